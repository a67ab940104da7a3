"""The console's words in Vietnamese (the default) and English.

Every label a page shows is a key here, with both languages side by side; a template asks
``t("key")``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

#: key -> (Vietnamese, English)
WORDS: Mapping[str, tuple[str, str]] = {
    "app": ("Bảng điều khiển lienthong", "lienthong console"),
    "nav.overview": ("Tổng quan", "Overview"),
    "nav.dossiers": ("Hồ sơ", "Dossiers"),
    "nav.dead_letters": ("Gửi lỗi", "Dead letters"),
    "nav.timeliness": ("Đúng hạn", "Timeliness"),
    "nav.access_log": ("Nhật ký tra cứu", "Access log"),
    "nav.message_log": ("Nhật ký thông điệp", "Message log"),
    "nav.clients": ("Ứng dụng kết nối", "Clients"),
    "nav.audit": ("Nhật ký thao tác", "Audit trail"),
    "logout": ("Đăng xuất", "Log out"),
    "login.title": ("Đăng nhập", "Log in"),
    "login.name": ("Tên đăng nhập", "Name"),
    "login.password": ("Mật khẩu", "Password"),
    "login.submit": ("Đăng nhập", "Log in"),
    "login.refused": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong name or password."),
    "login.locked": (
        "Tài khoản tạm khóa do đăng nhập sai nhiều lần, đến",
        "The account is locked after repeated failed logins, until",
    ),
    "login.expired": (
        "Phiên làm việc đã hết hạn, hãy đăng nhập lại.",
        "Your session ended; log in again.",
    ),
    "role": ("Vai trò", "Role"),
    "forbidden": (
        "Vai trò của bạn không được phép thao tác này.",
        "Your role does not allow this.",
    ),
    "csrf": (
        "Biểu mẫu đã hết hạn hoặc không hợp lệ; hãy tải lại trang.",
        "The form expired or is not valid; reload the page.",
    ),
    "overview.ready": ("Sẵn sàng", "Ready"),
    "overview.not_ready": ("Chưa sẵn sàng", "Not ready"),
    "overview.checks": ("Kiểm tra", "Checks"),
    "overview.upstreams": ("Hệ thống quốc gia", "National systems"),
    "overview.window": ("phút gần nhất", "last minutes"),
    "overview.breaker": ("Cầu dao", "Breaker"),
    "overview.in_flight": ("Đang gọi", "In flight"),
    "overview.calls": ("Lượt gọi", "Calls"),
    "overview.error_rate": ("Tỷ lệ lỗi", "Error rate"),
    "overview.latency": ("Độ trễ p50 / p95", "Latency p50 / p95"),
    "overview.last_failure": ("Lỗi gần nhất", "Last failure"),
    "overview.queue": ("Hàng đợi đồng bộ", "Sync queue"),
    "overview.pending": ("Đang chờ", "Pending"),
    "overview.in_flight_heads": ("Đang gửi", "Being sent"),
    "overview.backing_off": ("Chờ thử lại", "Backing off"),
    "overview.dead": ("Gửi lỗi đang chờ", "Dead letters waiting"),
    "overview.oldest": ("Sự kiện chưa gửi lâu nhất", "Oldest undelivered event"),
    "overview.none": ("không có", "none"),
    "overview.store_down": ("Không đọc được hàng đợi", "The queue cannot be read"),
    "dossiers.find": ("Tìm hồ sơ theo mã", "Find a dossier by code"),
    "dossiers.code": ("Mã hồ sơ", "Dossier code"),
    "dossiers.search": ("Tìm", "Find"),
    "dossiers.not_found": ("Không có hồ sơ với mã này.", "No dossier with this code."),
    "dossier.status": ("Trạng thái", "Status"),
    "dossier.procedure": ("Thủ tục", "Procedure"),
    "dossier.agency": ("Cơ quan", "Agency"),
    "dossier.sector": ("Lĩnh vực", "Sector"),
    "dossier.received": ("Ngày tiếp nhận", "Received"),
    "dossier.due": ("Ngày hẹn trả", "Due"),
    "dossier.events": ("Diễn biến", "Events"),
    "dossier.deliveries": ("Gửi lên Cổng DVC quốc gia", "Deliveries to the national portal"),
    "dossier.portal": ("Cổng DVC quốc gia đang giữ", "What the national portal holds"),
    "dossier.portal_col": ("Cổng DVC quốc gia", "National portal"),
    "dossier.portal_none": ("Cổng chưa có hồ sơ này.", "The portal does not hold this dossier."),
    "dossier.portal_unknown": ("Không hỏi được Cổng lúc này.", "The portal cannot be asked now."),
    "dossier.sync": ("Đồng bộ", "Sync"),
    "dossier.resend": ("Gửi lại", "Re-send"),
    "dossier.reconcile": ("Đối soát", "Reconcile"),
    "dossier.requeued": ("Đã xếp lại hàng đợi", "Queued again"),
    "dossier.reconciled": ("Kết quả đối soát", "Reconciliation"),
    "col.sequence": ("Bước", "Step"),
    "col.time": ("Thời điểm", "Time"),
    "col.officer": ("Cán bộ", "Officer"),
    "col.kind": ("Loại", "Kind"),
    "col.state": ("Tình trạng", "State"),
    "col.attempts": ("Số lần", "Attempts"),
    "col.error": ("Lỗi", "Error"),
    "col.dossier": ("Hồ sơ", "Dossier"),
    "col.client": ("Ứng dụng", "Client"),
    "col.organisation": ("Đơn vị", "Organisation"),
    "col.official": ("Cán bộ tra cứu", "Official"),
    "col.operation": ("Nghiệp vụ", "Operation"),
    "col.fields": ("Trường được trả", "Fields returned"),
    "col.outcome": ("Kết quả", "Outcome"),
    "col.upstream": ("Hệ thống", "System"),
    "col.duration": ("Thời gian (ms)", "Duration (ms)"),
    "col.message_id": ("Mã thông điệp", "Message id"),
    "col.operator": ("Người thao tác", "Operator"),
    "col.action": ("Thao tác", "Action"),
    "col.target": ("Đối tượng", "Target"),
    "col.role": ("Vai trò", "Role"),
    "col.operations": ("Nghiệp vụ được phép", "Allowed operations"),
    "col.sectors": ("Lĩnh vực", "Sectors"),
    "col.rate_limits": ("Giới hạn tần suất", "Rate limits"),
    "dead.empty": ("Không có bản gửi lỗi.", "No dead letters."),
    "dead.retry": ("Thử lại", "Retry"),
    "dead.retry_all": ("Thử lại tất cả", "Retry all"),
    "dead.confirm_all": (
        "Thử lại tất cả bản gửi lỗi? Số lượng:",
        "Retry every dead letter? How many:",
    ),
    "dead.confirm": ("Xác nhận", "Confirm"),
    "dead.cancel": ("Hủy", "Cancel"),
    "dead.retried": ("Đã xếp lại để gửi:", "Queued again:"),
    "access.intro": (
        "Ai đã tra cứu một công dân, khi nào, cho hồ sơ nào — để trả lời yêu cầu của công dân. "
        "Mỗi lần xem đều được ghi lại.",
        "Who looked up a citizen, when, for which dossier — to answer a citizen's request. "
        "Every view is recorded.",
    ),
    "access.citizen": ("Số định danh cá nhân", "Citizen ID"),
    "access.search": ("Xem", "Show"),
    "access.empty": ("Không có lượt tra cứu nào.", "No lookups."),
    "access.invalid": ("Số định danh không hợp lệ.", "Not a valid citizen ID."),
    "log.last_verify": ("Lần kiểm tra gần nhất", "Last check"),
    "log.never": ("Chưa kiểm tra từ bảng điều khiển.", "Not checked from the console yet."),
    "log.verify_now": ("Kiểm tra ngay", "Verify now"),
    "log.find": ("Tìm trao đổi", "Find an exchange"),
    "log.by_dossier": ("theo mã hồ sơ", "by dossier code"),
    "log.by_message": ("theo mã thông điệp", "by message id"),
    "log.bundle": ("Tải gói chứng cứ", "Download evidence bundle"),
    "log.empty": ("Không có trao đổi.", "No exchanges."),
    "clients.intro": (
        "Các ứng dụng được đăng ký (chỉ xem).",
        "The registered API clients (read-only).",
    ),
    "audit.intro": ("Mọi thao tác của cán bộ vận hành.", "Every operator action."),
    "timeliness.intro": (
        "Hồ sơ tiếp nhận trong kỳ: giải quyết trước hạn, đúng hạn, quá hạn; "
        "đang giải quyết quá hạn.",
        "Dossiers received in the period: resolved early, on time, late; open and overdue.",
    ),
    "timeliness.from": ("Từ ngày", "From"),
    "timeliness.to": ("Đến ngày", "To"),
    "timeliness.group_by": ("Theo", "By"),
    "timeliness.show": ("Xem", "Show"),
    "timeliness.csv": ("Tải CSV", "Download CSV"),
    "timeliness.chart": (
        "Tỷ lệ đúng hạn (trước hạn + đúng hạn / đã giải quyết)",
        "On-time rate (early + on time / resolved)",
    ),
    "timeliness.late": ("Hồ sơ quá hạn và sắp quá hạn", "Overdue and at-risk dossiers"),
    "timeliness.none_late": (
        "Không có hồ sơ quá hạn hay sắp quá hạn.",
        "No overdue or at-risk dossier.",
    ),
    "timeliness.apologies": ("Phiếu xin lỗi chờ xác nhận", "Apologies to confirm"),
    "timeliness.no_apologies": ("Không có phiếu chờ xác nhận.", "No apology waiting."),
    "timeliness.confirm": ("Xác nhận", "Confirm"),
    "timeliness.confirmed": ("Xác nhận phiếu xin lỗi", "Apology confirmation"),
    "timeliness.bad_query": ("Kỳ báo cáo không hợp lệ.", "The report period is not valid."),
    "timeliness.original": ("Hạn cũ", "Original due"),
    "timeliness.proposed": ("Hạn mới đề xuất", "Proposed due"),
    "col.group": ("Nhóm", "Group"),
    "col.received": ("Tiếp nhận", "Received"),
    "col.resolved": ("Đã giải quyết", "Resolved"),
    "col.early": ("Trước hạn", "Early"),
    "col.on_time": ("Đúng hạn", "On time"),
    "col.late": ("Quá hạn", "Late"),
    "col.open_overdue": ("Đang quá hạn", "Open overdue"),
    "col.rate": ("Tỷ lệ đúng hạn", "On-time rate"),
    "yes": ("có", "yes"),
    "no": ("không", "no"),
    "language": ("English", "Tiếng Việt"),
}


def translator(language: str) -> Callable[[str], str]:
    """``t(key)`` in ``language`` (Vietnamese for an unknown language; the key if unknown)."""
    index = LANGUAGES.index(language) if language in LANGUAGES else 0

    def t(key: str) -> str:
        words = WORDS.get(key)
        return key if words is None else words[index]

    return t


def other_language(language: str) -> str:
    """The language the switch offers from ``language``."""
    return "en" if language != "en" else "vi"


__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "WORDS", "other_language", "translator"]
