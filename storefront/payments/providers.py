"""Payment providers: pay, refund and idempotent callbacks keyed by provider reference.

A provider is any object with this shape (see :class:`PaymentProvider`);
plugins offer more through the ``payment_provider(name)`` hook. Callbacks
reach :func:`storefront.payments.services.confirm_payment`, which is
idempotent by ``provider_ref`` (a unique column), so a provider retrying its
notification, or a buyer double-clicking, never pays an order twice.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from flask import url_for


@dataclass(frozen=True)
class CallbackResult:
    """What a provider's callback says: which payment, its provider reference, amount, outcome."""

    payment_reference: str
    provider_ref: str
    amount: int
    succeeded: bool
    message: str = ""


class PaymentProvider(ABC):
    """Interface every provider implements."""

    name = "abstract"

    @abstractmethod
    def start(self, payment) -> str:
        """Return the URL the buyer is sent to in order to pay ``payment``."""

    @abstractmethod
    def refund(self, payment, amount: int, key: str) -> str:
        """Send ``amount`` back for ``payment``; ``key`` makes a retried call a no-op at the
        provider. Return the provider's refund reference; raise on failure."""

    @abstractmethod
    def parse_callback(self, form) -> CallbackResult:
        """Read (and verify) a callback request's fields."""


class TestProvider(PaymentProvider):
    """A simulated provider with its own pay page, so every flow can be tried end to end.

    Its provider reference is derived from the payment reference, so paying
    twice (double click, replayed callback) carries the same reference and
    is recognised as the same payment.
    """

    __test__ = False  # not a pytest test class
    name = "test"

    def start(self, payment) -> str:
        return url_for("payments.pay_page", reference=payment.reference)

    @staticmethod
    def provider_ref_for(payment) -> str:
        return f"test_{payment.reference}"

    def refund(self, payment, amount: int, key: str) -> str:
        return f"test_refund_{key}"

    def parse_callback(self, form) -> CallbackResult:
        def as_int(value) -> int:
            try:
                return int(value)
            except (TypeError, ValueError):
                return -1

        return CallbackResult(
            payment_reference=str(form.get("reference", ""))[:40],
            provider_ref=str(form.get("provider_ref", ""))[:120],
            amount=as_int(form.get("amount")),
            succeeded=form.get("outcome") == "pay",
        )
