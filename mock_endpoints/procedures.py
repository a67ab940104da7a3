"""The catalogue of administrative procedures (TTHC) the portal mock knows.

Procedure codes follow the national database's form ``L.NNNNNN`` (``1.`` procedures of
central-level agencies applied locally, ``2.`` province- and district-level ones); sector codes
(``MaLinhVuc``) are short dotted codes of the owning ministry and the sector. The list is a
fixed, plausible sample — not a copy of the national catalogue — and does not depend on the seed,
so ``LayDanhSachTTHC`` and ``LayThuTuc`` answer the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

#: sector code -> (sector name, owning ministry)
SECTORS: dict[str, tuple[str, str]] = {
    "TP.HT": ("Hộ tịch", "Bộ Tư pháp"),
    "TP.CT": ("Chứng thực", "Bộ Tư pháp"),
    "TP.LLTP": ("Lý lịch tư pháp", "Bộ Tư pháp"),
    "TC.DKKD": ("Thành lập và hoạt động của doanh nghiệp", "Bộ Tài chính"),
    "TC.HKD": ("Thành lập và hoạt động của hộ kinh doanh", "Bộ Tài chính"),
    "XD.HDXD": ("Hoạt động xây dựng", "Bộ Xây dựng"),
    "NNMT.DD": ("Đất đai", "Bộ Nông nghiệp và Môi trường"),
    "NNMT.MT": ("Môi trường", "Bộ Nông nghiệp và Môi trường"),
    "CA.CT": ("Đăng ký, quản lý cư trú", "Bộ Công an"),
    "NV.BTXH": ("Bảo trợ xã hội", "Bộ Nội vụ"),
    "XD.DB": ("Đường bộ", "Bộ Xây dựng"),
    "YT.KCB": ("Khám bệnh, chữa bệnh", "Bộ Y tế"),
    "GDDT.VBCC": ("Văn bằng, chứng chỉ", "Bộ Giáo dục và Đào tạo"),
}


@dataclass(frozen=True)
class Procedure:
    """One administrative procedure as the portal lists it."""

    code: str
    name: str
    sector_code: str
    level: str
    processing_days: int
    fee_vnd: int

    @property
    def sector_name(self) -> str:
        """The sector's Vietnamese name."""
        return SECTORS[self.sector_code][0]

    @property
    def agency(self) -> str:
        """The ministry that owns the sector."""
        return SECTORS[self.sector_code][1]

    def to_wire(self) -> dict[str, object]:
        """The procedure in the portal's JSON (``LayThuTuc`` / ``LayDanhSachTTHC`` items)."""
        return {
            "MaTTHC": self.code,
            "TenTTHC": self.name,
            "MaLinhVuc": self.sector_code,
            "TenLinhVuc": self.sector_name,
            "CoQuanQuanLy": self.agency,
            "CapThucHien": self.level,
            "ThoiHanGiaiQuyet": self.processing_days,
            "LePhi": self.fee_vnd,
        }


PROCEDURES: tuple[Procedure, ...] = (
    Procedure("1.001193", "Đăng ký khai sinh", "TP.HT", "Cấp xã", 1, 0),
    Procedure("1.000894", "Đăng ký kết hôn", "TP.HT", "Cấp xã", 1, 0),
    Procedure("1.000656", "Đăng ký khai tử", "TP.HT", "Cấp xã", 1, 0),
    Procedure("1.004873", "Cấp bản sao trích lục hộ tịch", "TP.HT", "Cấp xã", 1, 8000),
    Procedure("1.001022", "Đăng ký nhận cha, mẹ, con", "TP.HT", "Cấp xã", 3, 15000),
    Procedure("2.000815", "Chứng thực bản sao từ bản chính", "TP.CT", "Cấp xã", 1, 2000),
    Procedure("2.000884", "Chứng thực chữ ký trong giấy tờ, văn bản", "TP.CT", "Cấp xã", 1, 10000),
    Procedure("2.000908", "Chứng thực hợp đồng, giao dịch", "TP.CT", "Cấp xã", 2, 50000),
    Procedure("1.001641", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", "TP.LLTP",
              "Cấp tỉnh", 10, 200000),
    Procedure("2.001610", "Đăng ký thành lập công ty trách nhiệm hữu hạn hai thành viên trở lên",
              "TC.DKKD", "Cấp tỉnh", 3, 50000),
    Procedure("2.001199", "Đăng ký thành lập công ty cổ phần", "TC.DKKD", "Cấp tỉnh", 3, 50000),
    Procedure("2.002042", "Đăng ký thành lập doanh nghiệp tư nhân", "TC.DKKD", "Cấp tỉnh", 3,
              50000),
    Procedure("2.001974", "Đăng ký thay đổi người đại diện theo pháp luật của công ty",
              "TC.DKKD", "Cấp tỉnh", 3, 50000),
    Procedure("2.002008", "Thông báo tạm ngừng kinh doanh", "TC.DKKD", "Cấp tỉnh", 3, 0),
    Procedure("2.000575", "Đăng ký thành lập hộ kinh doanh", "TC.HKD", "Cấp xã", 3, 100000),
    Procedure("1.009972", "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ", "XD.HDXD",
              "Cấp xã", 15, 75000),
    Procedure("1.009974", "Cấp giấy phép sửa chữa, cải tạo công trình", "XD.HDXD", "Cấp tỉnh",
              20, 150000),
    Procedure("1.004227", "Đăng ký đất đai, tài sản gắn liền với đất lần đầu", "NNMT.DD",
              "Cấp xã", 20, 100000),
    Procedure("2.000889", "Đăng ký biến động quyền sử dụng đất do chuyển nhượng", "NNMT.DD",
              "Cấp tỉnh", 10, 100000),
    Procedure("1.010728", "Cấp giấy phép môi trường", "NNMT.MT", "Cấp tỉnh", 30, 0),
    Procedure("1.004194", "Đăng ký thường trú", "CA.CT", "Cấp xã", 7, 20000),
    Procedure("1.004222", "Đăng ký tạm trú", "CA.CT", "Cấp xã", 3, 15000),
    Procedure("1.001776", "Thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hằng tháng",
              "NV.BTXH", "Cấp xã", 15, 0),
    Procedure("1.002804", "Cấp đổi giấy phép lái xe", "XD.DB", "Cấp tỉnh", 5, 135000),
    Procedure("1.003010", "Cấp giấy phép hoạt động đối với phòng khám", "YT.KCB", "Cấp tỉnh",
              45, 4300000),
    Procedure("1.005092", "Cấp bản sao văn bằng, chứng chỉ từ sổ gốc", "GDDT.VBCC", "Cấp tỉnh",
              1, 0),
)  # fmt: skip

PROCEDURES_BY_CODE: dict[str, Procedure] = {procedure.code: procedure for procedure in PROCEDURES}

__all__ = ["PROCEDURES", "PROCEDURES_BY_CODE", "SECTORS", "Procedure"]
