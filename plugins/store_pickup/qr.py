"""The pickup code as an inline SVG QR code, for the counter's scanner.

Uses the ``qrcode`` package (pure Python) when it is installed; without it
the page shows the large printed code alone, which the counter can type.
"""
from __future__ import annotations

from markupsafe import Markup, escape


def qr_svg(data: str, label: str = "") -> Markup | None:
    try:
        import qrcode
        from qrcode.constants import ERROR_CORRECT_M
    except ImportError:  # optional dependency
        return None
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # includes the quiet zone
    size = len(matrix)
    path = "".join(f"M{x},{y}h1v1h-1z" for y, row in enumerate(matrix) for x, dark in enumerate(row) if dark)
    return Markup(
        '<svg class="sp-qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" role="img" '
        'aria-label="{label}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/>'
        '<path d="{path}" fill="#000"/></svg>'
    ).format(size=size, label=escape(label), path=path)
