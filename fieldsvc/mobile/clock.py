"""E-CLOCK: the phone's clock readings at sync and the corrected time of each fact, as pure arithmetic."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from fieldsvc.wire import CALENDAR, in_calendar

TimeSource = Literal["elapsed", "offset"]
# A century of uptime: more than any phone has, and small enough for a timedelta and a bigint column.
MAX_ELAPSED_MS = 100 * 365 * 24 * 3600 * 1000
MAX_BOOT_COUNT = 2**31 - 1  # a phone's boot count (Android's Settings.Global.BOOT_COUNT) fits an integer column
# How far a phone's wall clock may wander from its monotonic clock within one boot (network time corrections move
# it by a second or two). Reading a fact of this boot by its wall clock by mistake costs only that wander; reading a
# fact of an earlier boot by this boot's monotonic clock costs the earlier boot's whole uptime, so the margin is small:
# a phone that restarted 35 s after its arrival check-in had it read 20 min late with 2 min (a probe).
_WALL_CLOCK_DRIFT = timedelta(seconds=10)
# Two readings of one phone's clocks agree to within this: milliseconds of elapsed time rounded, the moment between
# reading the wall clock and the monotonic clock. Within it the fact's own wall-clock time stands: read by the
# monotonic clock, a photo taken exactly 15:00 after the arrival came out 15:00.003 and late (a probe).
_CLOCKS_AGREE = timedelta(seconds=1)


@dataclass(frozen=True)
class ClockReading:
    """What the phone's clocks said when it sent a request, and when the server received it."""

    received_at: datetime  # when the request's headers arrived, before its body: an upload's duration is no skew
    device_wall: datetime  # X-Device-Clock
    device_elapsed_ms: int | None  # X-Device-Elapsed-Ms: monotonic, immune to wall-clock jumps
    # The headers reach the server a moment after the phone read its clock: a measured offset this small is that
    # transit, not a wrong clock, and correcting by it would make an arrival at exactly +10:00 late (configured).
    transit_allowance: timedelta
    device_id: str | None = None  # X-Device-Id: which of the technician's phones (each has its own clocks)
    device_boot: int | None = None  # X-Device-Boot: the phone's boot count at send
    batch_position: int | None = None  # the fact's place in a sync batch (the batch shares this reading)

    @property
    def offset(self) -> timedelta:
        """Server receipt minus the device wall clock at send: add it to a device time to get server time.

        Zero within the transit allowance: such a phone's clock agrees with the server's as far as can be measured.
        Beyond it, whole seconds rounded down: what was measured is the skew plus the request's time in flight, never
        less, so its fraction of a second is taken as that flight (a phone 3 minutes slow, arriving at exactly +10:00,
        must not read as 10:00.002 late). The technician gains less than a second.
        """
        measured = self.received_at - self.device_wall
        if abs(measured) <= self.transit_allowance:
            return timedelta(0)
        return measured - timedelta(microseconds=measured.microseconds)  # timedelta keeps microseconds >= 0: a floor


@dataclass(frozen=True)
class EventTiming:
    """A fact's raw device times, the offset measured when it arrived, and the time the service trusts."""

    device_time: datetime
    device_elapsed_ms: int | None
    received_at: datetime
    clock_offset_ms: int
    corrected_time: datetime
    source: TimeSource
    device_id: str | None = None
    device_boot: int | None = None  # the boot the fact was recorded in, by the phone's count
    batch_position: int | None = None  # its place in the sync batch that sent it


def parse_device_wall(text: str) -> datetime:
    """An RFC 3339 instant with an offset; ValueError otherwise (a zone-less time cannot be compared)."""
    parsed = datetime.fromisoformat(text.strip().upper())  # RFC 3339 allows "t" and "z"; Python reads only "T", "Z"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError("the device clock must carry a UTC offset")
    # Offsets from a clock at the ends of the calendar would carry corrected times past them.
    if not in_calendar(parsed):
        raise ValueError(f"the device clock must lie {CALENDAR}")
    return parsed


def parse_device_id(text: str) -> str:
    """The app's id for the phone: 1 to 64 letters, digits and `-._:`; ValueError otherwise."""
    if not _DEVICE_ID.fullmatch(text):
        raise ValueError("a device id is 1 to 64 letters, digits and the characters - . _ :")
    return text


_DEVICE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def parse_boot_count(text: str) -> int:
    value = int(text.strip())
    if not 0 <= value <= MAX_BOOT_COUNT:
        raise ValueError(f"the boot count must lie within 0 and {MAX_BOOT_COUNT}")
    return value


def parse_elapsed_ms(text: str) -> int:
    value = int(text.strip())
    if not 0 <= value <= MAX_ELAPSED_MS:
        raise ValueError(f"elapsed milliseconds must lie within 0 and {MAX_ELAPSED_MS}")
    return value


def contradiction(reading: ClockReading, device_elapsed_ms: int | None, device_boot: int | None) -> str | None:
    """Why a fact's own clock readings cannot be of the phone that sent it, if they cannot: a boot after the one it
    was sent in, or in that boot a monotonic time later than the send's. Only a modified app sends either; read by its
    wall clock (as a fact of an earlier boot is), an arrival set back with it was on time (a probe)."""
    sent_in, elapsed_at_send = reading.device_boot, reading.device_elapsed_ms
    if device_boot is None or sent_in is None:
        return None
    if device_boot > sent_in:
        return f"deviceBoot {device_boot} is a later boot than the one it was sent in (X-Device-Boot {sent_in})"
    if device_boot == sent_in and None not in (device_elapsed_ms, elapsed_at_send) and (
        timedelta(milliseconds=device_elapsed_ms - elapsed_at_send) > _CLOCKS_AGREE
    ):
        return (f"deviceElapsedMs {device_elapsed_ms} is later in boot {sent_in} than the request was sent "
                f"(X-Device-Elapsed-Ms {elapsed_at_send})")
    return None


def event_timing(
    reading: ClockReading, device_time: datetime, device_elapsed_ms: int | None, device_boot: int | None = None
) -> EventTiming:
    """Correct a fact's time: by the monotonic clock when it spans event and send, else by the wall-clock offset.

    The monotonic difference survives the user or the network changing the wall clock between the fact and the
    sync; it fails across a reboot, which resets it. A fact whose elapsed time is beyond the send's is from an
    earlier boot; so is one whose wall clock (corrected by the offset) dates it before the send's boot began, by
    more than a wall clock drifts: a phone that restarted mid-visit and synced after more uptime than it had before
    would otherwise have its earlier facts read as late as the restart was. A wall clock set back to date a fact
    earlier is still caught, unless it was set back to before the phone's own boot (which looks like a restart).
    A phone that counts its boots says which boot the fact and the send are of, and nothing is guessed: a clock days
    behind after a flat battery, put right by the network before an offline sync, dated a whole visit before its
    boot (a probe); a clock set back after a restart dated a signature into an earlier boot (a probe).
    """
    offset = reading.offset
    by_wall = device_time + offset
    elapsed_at_send = reading.device_elapsed_ms
    if elapsed_at_send is not None and device_elapsed_ms is not None and device_elapsed_ms <= elapsed_at_send:
        sent_at = reading.device_wall + offset  # the server's time when the phone sent the request
        by_elapsed = sent_at - timedelta(milliseconds=elapsed_at_send - device_elapsed_ms)
        booted_at = sent_at - timedelta(milliseconds=elapsed_at_send)
        if device_boot is not None and reading.device_boot is not None:
            this_boot = device_boot == reading.device_boot
        else:
            this_boot = by_wall >= booted_at - _WALL_CLOCK_DRIFT
    else:
        this_boot = False
    corrected, source = (by_elapsed, "elapsed") if this_boot else (by_wall, "offset")
    if this_boot and abs(by_elapsed - by_wall) <= _CLOCKS_AGREE:
        corrected = by_wall
    # A fact cannot have happened after the server received it, whatever the phone's clocks say.
    corrected = min(corrected, reading.received_at)
    return EventTiming(
        device_time=device_time,
        device_elapsed_ms=device_elapsed_ms,
        received_at=reading.received_at,
        clock_offset_ms=round(offset / timedelta(milliseconds=1)),
        corrected_time=corrected,
        source=source,
        device_id=reading.device_id,
        device_boot=device_boot,
        batch_position=reading.batch_position,
    )


def borne_out_boot(
    corrected: datetime, elapsed_ms: int, source: str, fix_time: datetime | None, within: timedelta
) -> datetime | None:
    """When the phone booted, by a fact's monotonic time, if something besides its wall clock bears that out: the
    service corrected the fact by the monotonic clock of the boot it was sent in, or it is a check-in whose location
    fix, timed by the satellites, agrees with it within `within`. A fix dated later than that, the phone's clock being
    behind (set back, offline all boot, and put right for the sync; a probe), tells the boot by itself: no later than
    it was, since a fix is taken before its tap. None otherwise."""
    elapsed = timedelta(milliseconds=elapsed_ms)
    if source == "elapsed" or (fix_time is not None and abs(fix_time - corrected) <= within):
        return corrected - elapsed
    if fix_time is not None and fix_time - corrected > within:
        return fix_time - elapsed
    return None


def by_the_boot_it_names(
    by_wall: datetime, elapsed_ms: int, boots: list[datetime], received_at: datetime, within: timedelta
) -> datetime | None:
    """A fact read by its wall clock (its monotonic time was of an earlier boot than the one it was sent in) whose
    wall clock the monotonic one contradicts: the latest of the phone's known boots (sorted) that began before the
    wall-clock time, plus the fact's elapsed time, lands later than that time by more than `within`, yet while that
    boot lasted (before the next began, before the receipt). The wall clock was set back between the boot and the fact
    and put right before the sync (a shoe-cover photo 25 min late passed so; a probe): the monotonic time, which no
    one sets, is returned. None when the two agree or no known boot can hold the fact. A fact dated later by its wall
    clock than by the boot may be of a boot no fact told of; it is left alone."""
    index = bisect_right(boots, by_wall)
    if index == 0:
        return None
    by_boot = boots[index - 1] + timedelta(milliseconds=elapsed_ms)
    boot_ended = boots[index] if index < len(boots) else received_at
    return by_boot if by_boot - by_wall > within and by_boot < min(boot_ended, received_at) else None


def by_its_counted_boot(
    by_wall: datetime, elapsed_ms: int, boot: datetime, received_at: datetime, within: timedelta
) -> datetime | None:
    """A fact read by its wall clock whose boot the phone named by its count, and when that boot began is borne out:
    the boot's monotonic time for it, when the wall clock is more than `within` off it either way (set back, or
    ahead, and put right before the sync). None when the two agree, or the boot's time cannot hold the fact."""
    by_boot = boot + timedelta(milliseconds=elapsed_ms)
    return by_boot if abs(by_boot - by_wall) > within and by_boot <= received_at else None


# A request's headers reach the server within this on the slowest mobile network that still delivers them. Facts of
# one boot whose sends put the boot further apart than this are of different boots, or a clock was moved.
_SLOWEST_SEND = timedelta(seconds=30)
_SLOWEST_SEND_MS, _CLOCKS_AGREE_MS = _SLOWEST_SEND.total_seconds() * 1000, _CLOCKS_AGREE.total_seconds() * 1000


def without_slow_sends(marks: list[tuple[datetime, int]]) -> list[datetime | None]:
    """Each fact of one boot, given as (time read by the monotonic clock of the boot it was sent in, its elapsed ms),
    re-read from the boot's earliest estimate when its own send was slow; None where it was not.

    A send's receipt dates the phone's boot no earlier than it began and later by the request's time in flight, which
    the server cannot tell from a clock offset; the boot's other sends, each slow or not, bound it. An honest arrival
    at 10:09:57 whose request took 5 s read as 10:10:02 and late (a probe). Estimates apart by more than the clocks
    agree are that flight, up to the slowest send; beyond that they are another boot, not re-read."""
    in_ms = [at.timestamp() * 1000 - elapsed for at, elapsed in marks]
    if not in_ms or max(in_ms) - min(in_ms) <= _CLOCKS_AGREE_MS:  # nearly every boot: every send was prompt
        return [None] * len(marks)
    reread: list[datetime | None] = []
    for (at, _), own in zip(marks, in_ms):
        gained_ms = own - min(other for other in in_ms if own - _SLOWEST_SEND_MS <= other)
        reread.append(at - timedelta(milliseconds=gained_ms) if gained_ms > _CLOCKS_AGREE_MS else None)
    return reread
