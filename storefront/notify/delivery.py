"""Outbox delivery: the worker's pass that sends due notifications, with retries.

A sale day queues notifications by the thousand within minutes (every paid
order has its "paid" message), so one pass drains the backlog rather than a
fixed handful: it claims due rows a batch at a time, sends them over one
backend connection, and records their outcome a few at a time. On SQLite
every write transaction takes the database's one write lock, which buyers
checking out wait for: a handful per batch instead of two per message.

A pass stops when nothing is due, after ``PASS_SECONDS`` (the next minute's
pass goes on, and the worker is free for the deadline sweeps meanwhile), or
when the backend keeps failing (a mail server that is down is not asked once
per queued message). The claimed rows it did not try are handed back, due at
once, their attempt not counted.

Safe to run in several workers at once: a row is claimed by a conditional
UPDATE (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) that only one of them wins.
A row whose worker died mid-send is retried once its lease runs out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, func, select, update

from ..clock import utcnow
from ..database import write_transaction
from ..extensions import db
from .backends import OutgoingMessage, get_backend
from .models import OutboxMessage

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
MAX_ATTEMPTS = 8
#: A claimed row whose worker died is retried after this lease runs out.
SENDING_LEASE = timedelta(minutes=10)
#: Rows claimed in one write.
BATCH = 50
#: Outcomes recorded in one write. A worker killed mid-pass (a deploy's SIGTERM) sends
#: again, once its claim runs out, at most this many messages it had sent but not recorded.
RECORD_EVERY = 10
#: A pass sends nothing more after this long: passes run every minute.
PASS_SECONDS = 45.0
#: Consecutive failed sends after which the backend counts as down for this pass.
GIVE_UP_AFTER = 3
#: A message due this long and not sent means delivery is not keeping up, or not running.
LATE_AFTER = timedelta(minutes=5)
LATE_COUNT_CAP = 1000
#: Sent (or given-up) messages are deleted this long after their last attempt.
RETENTION = timedelta(days=90)
PURGE_BATCH = 1000


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8... minutes after the 1st, 2nd, 3rd... failed attempt."""
    return timedelta(minutes=2 ** max(attempts - 1, 0))


@dataclass(frozen=True)
class _Claimed:
    message: OutgoingMessage
    attempts: int


def deliver_pending(limit: int | None = None, *, now: datetime | None = None, backend=None,
                    batch: int = BATCH, max_seconds: float | None = PASS_SECONDS) -> int:
    """Send the due outbox rows (at most ``limit`` of them); returns how many were sent.

    ``now`` fixes the clock for every batch (tests); by default each batch
    claims what is due when it starts, so messages queued during a long pass
    are sent in the same pass.
    """
    return delivery_pass(limit, now=now, backend=backend, batch=batch, max_seconds=max_seconds).sent


@dataclass(frozen=True)
class PassOutcome:
    sent: int
    #: The pass stopped because its last sends failed (the backend looks down).
    backend_failing: bool


def delivery_pass(limit: int | None = None, *, now: datetime | None = None, backend=None,
                  batch: int = BATCH, max_seconds: float | None = PASS_SECONDS) -> PassOutcome:
    """:func:`deliver_pending`, telling also whether the backend kept failing."""
    run = _Pass(backend or get_backend(), None if max_seconds is None else time.monotonic() + max_seconds)
    _open(run.backend)
    try:
        while limit is None or run.claimed < limit:
            claim_time = now or utcnow()
            claimed = _claim(claim_time, batch if limit is None else min(batch, limit - run.claimed))
            if not claimed:
                break
            run.claimed += len(claimed)
            run.send(claimed, claim_time)
            if run.stopped:
                break
    finally:
        _close(run.backend)
    failing = run.failures_in_a_row >= GIVE_UP_AFTER
    if run.stopped:
        # Out of time is a backlog the next pass continues; failing sends need someone to look.
        log = current_app.logger.warning if run.failures_in_a_row else current_app.logger.info
        log("notification delivery pass stopped (%s): %s sent, %s handed back",
            run.stopped, run.sent, run.handed_back)
    return PassOutcome(sent=run.sent, backend_failing=failing)


class _Pass:
    """One delivery pass's progress, and whether it should stop starting sends."""

    def __init__(self, backend, stop_at: float | None) -> None:
        self.backend = backend
        self.stop_at = stop_at
        self.claimed = self.attempted = self.sent = self.handed_back = self.failures_in_a_row = 0
        self.stopped = ""

    def _check(self) -> None:
        if self.failures_in_a_row >= GIVE_UP_AFTER:
            self.stopped = f"{self.failures_in_a_row} sends failed in a row"
        elif self.attempted and self.stop_at is not None and time.monotonic() >= self.stop_at:
            self.stopped = "out of time"  # after one send at least: every pass gets somewhere

    def send(self, claimed: list[_Claimed], claim_time: datetime) -> None:
        delivered: list[int] = []
        failed: list[tuple[_Claimed, str]] = []
        untried: list[int] = []
        for item in claimed:
            self._check()
            if self.stopped:
                untried.append(item.message.id)
                continue
            self.attempted += 1
            try:
                self.backend.send(item.message)
            except Exception as exc:  # any backend failure becomes a retry, never a crash
                current_app.logger.warning("notification #%s failed: %s", item.message.id, exc)
                failed.append((item, f"{type(exc).__name__}: {exc}"))
                self.failures_in_a_row += 1
            else:
                delivered.append(item.message.id)
                self.failures_in_a_row = 0
            if len(delivered) + len(failed) >= RECORD_EVERY:
                _record(delivered, failed, [], claim_time)
                self.sent += len(delivered)
                delivered, failed = [], []
        _record(delivered, failed, untried, claim_time)
        self.sent += len(delivered)
        self.handed_back += len(untried)
        self._check()


def _open(backend) -> None:
    # Backends that hold a connection (SMTP) keep it for the pass, as Django's
    # mail backends do; a plain ``send`` backend needs nothing.
    opener = getattr(backend, "open", None)
    if opener is not None:
        opener()


def _close(backend) -> None:
    closer = getattr(backend, "close", None)
    if closer is not None:
        closer()


def _claim(now: datetime, size: int) -> list[_Claimed]:
    """Up to ``size`` due rows, marked as being sent by us until the lease runs out."""
    # Rows in "sending" carry their lease expiry in next_attempt_at, so one
    # condition finds due rows and rows whose worker died mid-send.
    is_due = (OutboxMessage.status.in_((PENDING, SENDING)), OutboxMessage.next_attempt_at <= now)
    # Asked with a plain read first: the pass that finds nothing (every pass ends with one,
    # and a quiet minute's is all it does) takes no write lock.
    if db.session.execute(select(OutboxMessage.id).where(*is_due).limit(1)).first() is None:
        db.session.commit()
        return []
    due = (select(OutboxMessage.id)
           .where(*is_due)
           .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
           .limit(size)
           .with_for_update(skip_locked=True)  # no-op on SQLite, where the write lock serialises claims
           # A CTE runs once. As an IN (subquery) PostgreSQL may run it again per row and
           # claim past the LIMIT.
           .cte("due"))
    with write_transaction() as session:
        rows = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(select(due.c.id)), *is_due)
            .values(status=SENDING, attempts=OutboxMessage.attempts + 1, next_attempt_at=now + SENDING_LEASE)
            .returning(OutboxMessage.id, OutboxMessage.kind, OutboxMessage.channel, OutboxMessage.to_address,
                       OutboxMessage.subject, OutboxMessage.body, OutboxMessage.attempts)
            .execution_options(synchronize_session=False)
        ).all()
    rows.sort(key=lambda row: row.id)  # RETURNING promises no order; send oldest first
    return [_Claimed(OutgoingMessage(*row[:6]), row.attempts) for row in rows]


def _record(delivered: list[int], failed: list[tuple[_Claimed, str]], untried: list[int], now: datetime) -> None:
    """One write for what was sent, rescheduled with backoff (or failed for good), or handed back."""
    if not (delivered or failed or untried):
        return
    still_ours = OutboxMessage.status == SENDING  # a row whose lease ran out may be another worker's now
    with write_transaction() as session:
        if delivered:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(delivered), still_ours)
                .values(status=SENT, sent_at=utcnow(), last_error="")
                .execution_options(synchronize_session=False))
        for item, error in failed:
            attempts = item.attempts
            values: dict = {"last_error": error[:500]}
            if attempts >= MAX_ATTEMPTS:
                values["status"] = FAILED
            else:
                values.update(status=PENDING, next_attempt_at=now + retry_delay(attempts))
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id == item.message.id, still_ours).values(**values)
                .execution_options(synchronize_session=False))
        if untried:
            # Never attempted: the claim's attempt is taken back and the row is due again at once.
            session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(untried), still_ours)
                .values(status=PENDING, next_attempt_at=now,
                        attempts=case((OutboxMessage.attempts > 0, OutboxMessage.attempts - 1), else_=0))
                .execution_options(synchronize_session=False))


def alert_counts(now: datetime) -> tuple[int, int]:
    """The staff dashboard's alerts in one statement: messages given up on, and messages due
    for over :data:`LATE_AFTER` (delivery is not keeping up, or not running), the latter
    counted no further than ``LATE_COUNT_CAP + 1``: a stopped worker on a sale day leaves many."""
    failed = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == FAILED)
    late = (select(OutboxMessage.id)
            .where(OutboxMessage.status.in_((PENDING, SENDING)), OutboxMessage.next_attempt_at < now - LATE_AFTER)
            .limit(LATE_COUNT_CAP + 1).subquery())
    row = db.session.execute(select(failed.scalar_subquery(),
                                    select(func.count()).select_from(late).scalar_subquery())).one()
    return int(row[0]), int(row[1])


def purge_delivered(now: datetime) -> int:
    """Delete messages sent, or given up on, more than :data:`RETENTION` ago (a core sweep).

    Every order writes a few and they are never read again (the buyer's copy is
    the message centre's): a shop with a million orders would otherwise carry
    gigabytes of old mail, sign-in links included. Deleted a batch per write
    transaction so the sweep never holds SQLite's write lock for long.
    """
    # next_attempt_at of a finished row is its last claim's lease expiry: (status,
    # next_attempt_at) is the outbox's index, so no other column or index is needed.
    cutoff = now - RETENTION
    finished = (OutboxMessage.status.in_((SENT, FAILED)), OutboxMessage.next_attempt_at < cutoff)
    purged = 0
    while True:
        # Found by a plain read: most passes find nothing and take no write lock.
        ids = list(db.session.execute(select(OutboxMessage.id).where(*finished).limit(PURGE_BATCH)).scalars())
        db.session.commit()
        if not ids:
            return purged
        with write_transaction() as session:
            purged += session.execute(
                delete(OutboxMessage).where(OutboxMessage.id.in_(ids), *finished)
                .execution_options(synchronize_session=False)).rowcount
        if len(ids) < PURGE_BATCH:
            return purged
