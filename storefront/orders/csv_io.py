"""Batch shipping for big sale days: export orders awaiting shipment, import tracking numbers.

The export streams rows (keyset batches, never the whole table in memory),
starts with a UTF-8 BOM so Excel shows Chinese correctly, and neutralises
formula injection. The import checks every row first, then ships each good
row in its own transaction through :func:`services.ship_order`; a bad row
changes nothing and is reported with its line number. The admin upload runs
as a background job (:mod:`storefront.jobs.progress`) that ships in chunks
and reports progress; :func:`import_tracking` does the same in one call.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timezone
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..clock import shop_zone
from ..errors import ServiceError, ValidationFailed
from ..extensions import db
from ..i18n import gettext as _
from ..jobs.progress import runner, start_job
from .display import status_label
from .models import Order
from .status import OrderStatus

BOM = "\ufeff"
EXPORT_BATCH = 200
MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_ROWS = 5000
EXPORT_HEADER = ["number", "placed_at", "name", "phone", "address", "items", "buyer_note"]
IMPORT_HEADER_NAMES = {"order_number", "number", "订单号", "订单编号"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value) -> str:
    """A spreadsheet must not run a cell typed by a buyer as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_line(cells) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([neutralise(c) for c in cells])
    return buffer.getvalue()


def _items(order: Order) -> str:
    return "; ".join(
        f"{line.product_name}{' (' + line.sku_label + ')' if line.sku_label else ''} x{line.quantity}"
        for line in order.lines
    )


def _local(moment, tz) -> str:
    # Staff read the sheet in shop time; the database holds naive UTC.
    return moment.replace(tzinfo=timezone.utc).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def export_awaiting_shipment() -> Iterator[str]:
    """CSV text chunks of every paid order, oldest first (the order to pack them in)."""
    yield BOM + _csv_line(EXPORT_HEADER)
    tz = shop_zone()
    after_id = 0
    while True:
        batch = list(db.session.execute(
            select(Order).options(selectinload(Order.lines))
            .where(Order.status == OrderStatus.PAID, Order.id > after_id)
            .order_by(Order.id).limit(EXPORT_BATCH)
        ).scalars())
        if not batch:
            return
        for order in batch:
            yield _csv_line([order.number, _local(order.placed_at, tz),
                             order.ship_name, order.ship_phone, order.ship_address, _items(order),
                             order.buyer_note])
        after_id = batch[-1].id
        for order in batch:  # keep memory flat on a big day (lines cascade)
            db.session.expunge(order)


@dataclass
class ImportRow:
    line: int
    number: str
    carrier: str
    tracking_number: str
    ok: bool = False
    error: str = ""


def decode_upload(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else GBK/GB18030 as saved by Chinese Excel."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise ValidationFailed(_("The file is too large (at most %(kb)s KB).", kb=MAX_IMPORT_BYTES // 1024),
                               field="file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise ValidationFailed(_("Save the file as CSV in UTF-8 or GBK."), field="file") from None


def parse_rows(text: str) -> list[ImportRow]:
    rows: list[ImportRow] = []
    try:
        reader = list(csv.reader(io.StringIO(text)))
    except csv.Error:
        raise ValidationFailed(_("That is not a readable CSV file."), field="file") from None
    for index, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if index == 1 and cells[0].lstrip("'").casefold() in IMPORT_HEADER_NAMES:
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise ValidationFailed(_("At most %(n)s rows per file.", n=MAX_IMPORT_ROWS), field="file")
        padded = (cells + ["", "", ""])[:3]
        row = ImportRow(index, padded[0].lstrip("'"), padded[1], padded[2].lstrip("'"))
        if len(cells) < 3 or (len(cells) > 3 and any(cells[3:])):
            row.error = _("Expected 3 columns: order number, carrier, tracking number.")
        rows.append(row)
    if not rows:
        raise ValidationFailed(_("The file has no rows."), field="file")
    return rows


IMPORT_CHUNK = 100  # rows shipped between two progress reports


def check_rows(rows: list[ImportRow]) -> None:
    """Mark rows that cannot ship whatever the database says (no writes)."""
    from . import services

    seen: set[str] = set()
    for row in rows:
        if row.error:
            continue
        if row.number in seen:
            row.error = _("Duplicate row: this order appears earlier in the file.")
            continue
        seen.add(row.number)
        try:
            row.carrier = services.validate_carrier(row.carrier)
            row.tracking_number = services.validate_tracking(row.tracking_number)
        except ValidationFailed as exc:
            row.error = exc.message


def ship_rows(rows: list[ImportRow], staff) -> None:
    """Ship each good row of ``rows`` in its own transaction (a bad row changes nothing)."""
    from . import services

    numbers = [r.number for r in rows if not r.error]
    orders = {o.number: o for o in db.session.execute(select(Order).where(Order.number.in_(numbers))).scalars()} \
        if numbers else {}
    # Each shipment's commit expires every order read here; the statuses as read decide
    # which rows to try (ship_order checks again inside its own transaction).
    statuses = {number: order.status for number, order in orders.items()}
    for row in rows:
        if row.error:
            continue
        order = orders.get(row.number)
        if order is None:
            row.error = _("Unknown order.")
            continue
        if OrderStatus(statuses[row.number]) != OrderStatus.PAID:
            row.error = _("Not awaiting shipment (it is %(status)s).", status=status_label(statuses[row.number]))
            continue
        try:
            services.ship_order(order, staff, row.carrier, row.tracking_number)
        except ServiceError as exc:
            row.error = exc.message
        else:
            row.ok = True


def import_tracking(raw: bytes, staff) -> list[ImportRow]:
    """Ship every valid row at once; return one result per row (``ok`` or an ``error``)."""
    rows = parse_rows(decode_upload(raw))
    check_rows(rows)
    ship_rows(rows, staff)
    return rows


def _row_error(row: ImportRow) -> dict:
    return {"line": row.line, "ref": row.number, "message": row.error}


def describe_import(summary: dict) -> str:
    return _("%(ok)s shipped, %(bad)s with problems.", ok=summary.get("shipped", 0), bad=summary.get("problems", 0))


@runner("orders.import_tracking", describe=describe_import)
def run_tracking_import(progress, *, rows: list, staff_id: int) -> dict:
    """The background job behind the batch-shipping upload (rows parsed by the view).

    Rows that fail the checks are reported at once; the others ship in chunks
    of :data:`IMPORT_CHUNK`, with a progress report after each chunk.
    """
    from ..accounts.models import User

    staff = db.session.get(User, staff_id)
    if staff is None or not staff.is_staff:
        raise PermissionError("the staff member who started the import is gone")
    items = [ImportRow(*row) for row in rows]
    check_rows(items)
    bad = [r for r in items if r.error]
    good = [r for r in items if not r.error]
    progress.advance(len(bad), [_row_error(r) for r in bad], problems=len(bad))
    for start in range(0, len(good), IMPORT_CHUNK):
        chunk = good[start:start + IMPORT_CHUNK]
        ship_rows(chunk, staff)
        failed = [r for r in chunk if r.error]
        progress.advance(len(chunk), [_row_error(r) for r in failed],
                         shipped=len(chunk) - len(failed), problems=len(failed))
    return {}


def start_tracking_import(raw: bytes, staff, *, title: str, back_url: str | None = None) -> str:
    """Check the file now (errors go next to the upload field), ship in the background; the job id."""
    rows = parse_rows(decode_upload(raw))
    payload = [[r.line, r.number, r.carrier, r.tracking_number, False, r.error] for r in rows]
    return start_job("orders.import_tracking", title=title, owner_id=staff.id, total=len(rows),
                     args={"rows": payload, "staff_id": staff.id}, back_url=back_url)
