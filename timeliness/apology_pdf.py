"""The apology as a one-page PDF in Vietnamese (*Phiếu xin lỗi và hẹn lại ngày trả kết quả*).

Vietnamese needs a font with its precomposed letters (ă â đ ê ô ơ ư with their tone marks);
the PDF core fonts have none. The font is Source Sans Pro, shipped on PyPI by the
``font-source-sans-pro`` package (SIL Open Font License), so the sandbox prints correctly on a
machine with nothing but Python; ``font_path`` (``LIENTHONG_APOLOGY_FONT``) names another TTF.
The text is embedded as Unicode, so ``pdftotext`` reads it back with its diacritics.
"""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path

from fpdf import FPDF

from schemas.models import Dossier
from schemas.times import VN_TZ
from timeliness.apology import Apology
from timeliness.errors import ApologyError

_FONT_PACKAGE = "font_source_sans_pro"
_FAMILY = "lienthong-vn"


def _shipped_font(name: str) -> Path:
    try:
        path = Path(str(resources.files(_FONT_PACKAGE).joinpath("files", name)))
    except ModuleNotFoundError as exc:
        raise ApologyError("the font package font-source-sans-pro is not installed") from exc
    if not path.is_file():
        raise ApologyError(f"the font file {name} is missing")
    return path


def _when(instant: datetime) -> str:
    local = instant.astimezone(VN_TZ)
    return local.strftime("%H giờ %M ngày %d/%m/%Y")


def render_apology_pdf(
    apology: Apology,
    dossier: Dossier,
    *,
    agency_name: str | None = None,
    font_path: Path | None = None,
) -> bytes:
    """The apology for ``dossier`` as the bytes of a one-page A4 PDF."""
    regular = font_path or _shipped_font("SourceSansPro-Regular.ttf")
    bold = font_path or _shipped_font("SourceSansPro-Bold.ttf")
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(20, 18, 20)
    pdf.add_font(_FAMILY, "", str(regular))
    pdf.add_font(_FAMILY, "B", str(bold))
    pdf.set_title("Phiếu xin lỗi và hẹn lại ngày trả kết quả")
    pdf.set_creator("lienthong")
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    agency = agency_name or f"Cơ quan {dossier.agency_code}"

    def line(
        text: str, *, size: int = 12, style: str = "", align: str = "L", gap: float = 7
    ) -> None:
        pdf.set_font(_FAMILY, style, size)
        pdf.multi_cell(width, gap, text, align=align, new_x="LMARGIN", new_y="NEXT")

    pdf.set_font(_FAMILY, "B", 11)
    half = width / 2
    y = pdf.get_y()
    pdf.multi_cell(half, 6, agency.upper(), align="C")
    pdf.set_xy(pdf.l_margin + half, y)
    pdf.multi_cell(
        half, 6, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc", align="C"
    )
    pdf.ln(10)
    line("PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", size=15, style="B", align="C", gap=9)
    pdf.ln(4)
    line(f"Kính gửi: Ông/Bà {dossier.applicant_name}")
    line(
        f"Lúc {_when(dossier.received_at)}, {agency} đã tiếp nhận hồ sơ mã số {dossier.code} "
        f"của Ông/Bà về thủ tục: {dossier.title} (mã thủ tục {dossier.procedure_code})."
    )
    line(f"Thời gian hẹn trả kết quả ban đầu: {_when(apology.original_due_at)}.")
    line(f"Lý do chậm trễ: {apology.reason or 'Hồ sơ chưa được giải quyết đúng hạn.'}")
    line(
        f"{agency} xin lỗi Ông/Bà vì sự chậm trễ này và hẹn lại thời gian trả kết quả vào "
        f"{_when(apology.proposed_due_at)}."
    )
    line("Mong Ông/Bà thông cảm. Trân trọng.")
    pdf.ln(8)
    x = pdf.l_margin + half
    pdf.set_x(x)
    pdf.set_font(_FAMILY, "B", 12)
    pdf.multi_cell(half, 7, "NGƯỜI ĐỨNG ĐẦU CƠ QUAN", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(x)
    pdf.set_font(_FAMILY, "", 11)
    pdf.multi_cell(half, 6, "(Ký, ghi rõ họ tên và đóng dấu)", align="C")
    if pdf.page_no() != 1 or pdf.get_y() > pdf.h - 10:
        raise ApologyError("the apology does not fit on one page")
    return bytes(pdf.output())
