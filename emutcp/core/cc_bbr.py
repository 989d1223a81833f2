"""BBR v1 (Cardwell et al. 2016; draft-cardwell-iccrg-bbr-congestion-control-00),
driven by delivery-rate samples (rate.py) and pacing (pacing.py).

Theory of operation
-------------------
BBR models the path by two numbers and sends to match them rather than
reacting to loss: BtlBw, the bottleneck bandwidth (the largest delivery rate
sampled over the last 10 round trips, app-limited samples counted only when
they raise it), and RTprop (the smallest RTT over the last 10 s).  Their
product is the BDP.  The sender paces at pacing_gain x BtlBw and caps what is
in flight at cwnd_gain x BDP (plus 3 segments for delayed and stretched ACKs).

The gains come from a state machine:

* STARTUP: gains of 2/ln 2, doubling the rate each round, until BtlBw has not
  grown by 25 % for three rounds ("full bandwidth reached");
* DRAIN: pacing gain ln 2 / 2 empties the queue STARTUP made, until what is
  in flight is down to one BDP;
* PROBE_BW: pacing gain cycles through 1.25, 0.75 and six rounds of 1, each
  phase one RTprop long, starting at a phase picked from the clock (Linux
  picks at random) so that flows do not probe in step; cwnd gain 2;
* PROBE_RTT: when RTprop has not been refreshed for 10 s, cwnd falls to 4
  segments for 200 ms and a round trip, so the queue drains and the true
  propagation delay can be seen.

As in Linux since 4.19, once the pipe is full cwnd also allows for ACK
aggregation: the most data that arrived in an ACK burst beyond what BtlBw
explains (10-round max, capped at 100 ms of BtlBw).  Without it a host whose
ACKs come in batches (loopback under load) would sit at 4 segments.

Loss is not a signal of the model; in recovery BBR only conserves packets
(cwnd = what is in flight plus what was just delivered) for the first round
and restores the window it had when recovery ends, as Linux's tcp_bbr.c does.
After a timeout cwnd restarts at one segment and grows by what is delivered.
Every decision happens in ``on_ack_sample``, after loss recovery has run, and
sets cwnd last, so what recovery.py wrote in between is overridden.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar, Final

from .congestion import AckSample, CongestionController, register

HIGH_GAIN: Final = 2 / math.log(2)  # STARTUP: 2.885
DRAIN_GAIN: Final = 1 / HIGH_GAIN
PACING_GAIN_CYCLE: Final = (1.25, 0.75, 1, 1, 1, 1, 1, 1)  # PROBE_BW
CWND_GAIN: Final = 2.0
BTLBW_ROUNDS: Final = 10  # the bandwidth max filter's window, in round trips
RTPROP_WINDOW: Final = 10.0  # the min-RTT filter's window, seconds
PROBE_RTT_TIME: Final = 0.2
MIN_CWND: Final = 4  # segments
FULL_BW_THRESH: Final = 1.25  # STARTUP ends when BtlBw grows by less than this ...
FULL_BW_ROUNDS: Final = 3  # ... for this many rounds
PACING_MARGIN: Final = 0.01  # pace 1 % below the estimate (Linux bbr_pacing_margin_percent)
EXTRA_ACKED_MAX: Final = 0.1  # seconds of BtlBw the aggregation allowance is capped at

STARTUP, DRAIN, PROBE_BW, PROBE_RTT = "startup", "drain", "probe_bw", "probe_rtt"


class Bbr(CongestionController):
    name: ClassVar[str] = "bbr"
    wants_rate_samples = True
    paced_by_default = True

    def __init__(self, *, mss: int, initial_window: int) -> None:
        super().__init__(mss=mss, initial_window=initial_window)
        self.state = STARTUP
        self.pacing_gain = HIGH_GAIN
        self.cwnd_gain = HIGH_GAIN
        self.btlbw = 0.0  # bytes/s
        self._bw_samples: deque[tuple[int, float]] = deque()  # (round, max bw that round)
        self.rtprop = math.inf
        self.rtprop_stamp = 0.0
        self.round_count = 0
        self._next_round_delivered = 0
        self._round_start = False
        self.full_bw = 0.0
        self._full_bw_count = 0
        self.full_bw_reached = False
        self.cycle_index = 0
        self._cycle_stamp = 0.0
        self._probe_rtt_done: float | None = None
        self._probe_rtt_round_done = False
        self.prior_cwnd = 0
        self._conservation = False
        self._was_in_recovery = False
        self._rate: float | None = None  # the pacing rate, bytes/s
        self._initial_window = initial_window
        self._extra_acked: deque[tuple[int, float]] = deque()  # (round, extra ACKed)
        self._epoch_stamp = 0.0
        self._epoch_acked = 0

    # ------------------------------------------------------------ the model

    @property
    def bdp(self) -> float:
        if math.isinf(self.rtprop) or not self.btlbw:
            return self._initial_window * self.mss
        return self.btlbw * self.rtprop

    def target_cwnd(self, gain: float) -> int:
        """gain x BDP, plus what ACK aggregation has been seen to need once the
        pipe is full, plus Linux's quantization budget (3 x the segments sent
        per millisecond at the pacing rate, at least 2); never below 4 segments."""
        cwnd = gain * self.bdp
        if self.full_bw_reached:
            cwnd += self.extra_acked
        per_ms = max(2 * self.mss, int((self._rate or 0.0) * 0.001))
        return max(int(cwnd) + 3 * per_ms, MIN_CWND * self.mss)

    @property
    def extra_acked(self) -> float:
        """Linux's bbr_ack_aggregation_cwnd: the most data ACKed beyond what BtlBw
        explains over the last 10 rounds, capped at 100 ms of BtlBw."""
        if not self._extra_acked:
            return 0.0
        return min(max(e for _, e in self._extra_acked), self.btlbw * EXTRA_ACKED_MAX)

    def _update_ack_aggregation(self, s: AckSample) -> None:
        """Linux bbr_update_ack_aggregation: compare what arrives in an ACK epoch
        with what BtlBw would have delivered in that time."""
        acked = s.rate.newly_delivered if s.rate is not None else s.acked
        expected = self.btlbw * (s.now - self._epoch_stamp)
        if self._epoch_acked <= expected:  # the epoch is over: start a new one
            self._epoch_acked = 0
            self._epoch_stamp = s.now
            expected = 0.0
        self._epoch_acked += acked
        extra = min(self._epoch_acked - expected, float(self.cwnd))
        win = self._extra_acked
        if win and win[-1][0] == self.round_count:
            win[-1] = (self.round_count, max(win[-1][1], extra))
        else:
            win.append((self.round_count, extra))
        while win and win[0][0] <= self.round_count - BTLBW_ROUNDS:
            win.popleft()

    def _update_model(self, s: AckSample) -> None:
        rs = s.rate
        assert rs is not None
        # Round trips are counted in deliveries: a round ends when a segment sent
        # after the previous round ended is delivered.
        self._round_start = False
        if rs.prior_delivered >= self._next_round_delivered:
            self._next_round_delivered = rs.total_delivered
            self.round_count += 1
            self._round_start = True
            self._conservation = False
        # BtlBw: windowed max over 10 rounds; app-limited samples only if higher.
        bw = rs.delivery_rate
        if bw and (not rs.is_app_limited or bw >= self.btlbw):
            if self._bw_samples and self._bw_samples[-1][0] == self.round_count:
                if bw > self._bw_samples[-1][1]:
                    self._bw_samples[-1] = (self.round_count, bw)
            else:
                self._bw_samples.append((self.round_count, bw))
        while self._bw_samples and self._bw_samples[0][0] <= self.round_count - BTLBW_ROUNDS:
            self._bw_samples.popleft()
        if self._bw_samples:
            self.btlbw = max(b for _, b in self._bw_samples)
        # RTprop: min over 10 s.
        # The record's own send time measures finer than TCP timestamps (1 ms
        # ticks: 0 on loopback), so it comes first.
        rtt = rs.rtt if rs.rtt is not None else s.rtt
        expired = s.now > self.rtprop_stamp + RTPROP_WINDOW
        if rtt is not None and rtt > 0 and (rtt <= self.rtprop or expired):
            self.rtprop = rtt
            self.rtprop_stamp = s.now
        if expired and self.state != PROBE_RTT and not math.isinf(self.rtprop):
            self._enter_probe_rtt()

    # ------------------------------------------------------- state machine

    def _check_full_bw(self, s: AckSample) -> None:
        rs = s.rate
        if self.full_bw_reached or not self._round_start or rs is None or rs.is_app_limited:
            return
        if self.btlbw >= self.full_bw * FULL_BW_THRESH:
            self.full_bw = self.btlbw
            self._full_bw_count = 0
            return
        self._full_bw_count += 1
        self.full_bw_reached = self._full_bw_count >= FULL_BW_ROUNDS

    def _enter_probe_bw(self, now: float) -> None:
        self.state = PROBE_BW
        self.cwnd_gain = CWND_GAIN
        # Linux starts at a random phase other than the 0.75 one; the clock's
        # microseconds stand in for the random number (deterministic runs).
        self.cycle_index = (len(PACING_GAIN_CYCLE) - 1 - int(now * 1e6) % 7) % 8
        self.pacing_gain = PACING_GAIN_CYCLE[self.cycle_index]
        self._cycle_stamp = now

    def _enter_probe_rtt(self) -> None:
        self.state = PROBE_RTT
        self.pacing_gain = 1.0
        self.cwnd_gain = 1.0
        self.prior_cwnd = max(self.prior_cwnd, self.cwnd)
        self._probe_rtt_done = None

    def _advance_cycle(self, s: AckSample) -> None:
        gain = self.pacing_gain
        full_length = s.now - self._cycle_stamp > self.rtprop
        if gain > 1:
            done = full_length and s.in_flight >= gain * self.bdp
        elif gain < 1:
            done = full_length or s.in_flight <= self.bdp
        else:
            done = full_length
        if done:
            self.cycle_index = (self.cycle_index + 1) % len(PACING_GAIN_CYCLE)
            self.pacing_gain = PACING_GAIN_CYCLE[self.cycle_index]
            self._cycle_stamp = s.now

    def _update_state(self, s: AckSample) -> None:
        self._check_full_bw(s)
        if self.state == STARTUP and self.full_bw_reached:
            self.state = DRAIN
            self.pacing_gain = DRAIN_GAIN
            self.cwnd_gain = HIGH_GAIN
        if self.state == DRAIN and s.in_flight <= self.bdp:
            self._enter_probe_bw(s.now)
        elif self.state == PROBE_BW:
            self._advance_cycle(s)
        elif self.state == PROBE_RTT:
            if self._probe_rtt_done is None:
                if s.in_flight <= MIN_CWND * self.mss:
                    self._probe_rtt_done = s.now + PROBE_RTT_TIME
                    self._probe_rtt_round_done = False
                    self._next_round_delivered = s.rate.total_delivered if s.rate else 0
            else:
                if self._round_start:
                    self._probe_rtt_round_done = True
                if self._probe_rtt_round_done and s.now >= self._probe_rtt_done:
                    self.rtprop_stamp = s.now
                    self.cwnd = max(self.cwnd, self.prior_cwnd)
                    if self.full_bw_reached:
                        self._enter_probe_bw(s.now)
                    else:
                        self.state = STARTUP
                        self.pacing_gain = self.cwnd_gain = HIGH_GAIN

    # -------------------------------------------------------- cwnd & pacing

    def _set_cwnd(self, s: AckSample, cwnd: int) -> None:
        delivered = s.rate.newly_delivered if s.rate is not None else s.acked
        if s.in_recovery and not self._was_in_recovery:
            # Entering recovery: packet conservation for the first round.
            self.prior_cwnd = max(self.prior_cwnd, cwnd)
            self._conservation = True
            cwnd = s.in_flight + delivered
        elif self._was_in_recovery and not s.in_recovery:
            cwnd = max(cwnd, self.prior_cwnd)  # recovery over: restore
            self.prior_cwnd = 0
            self._conservation = False
        self._was_in_recovery = s.in_recovery
        target = self.target_cwnd(self.cwnd_gain)
        if s.in_recovery and self._conservation:
            cwnd = max(cwnd, s.in_flight + delivered)
        elif self.full_bw_reached:
            cwnd = min(cwnd + delivered, target)
        elif cwnd < target or (s.rate is not None and s.rate.total_delivered < 10 * self.mss):
            cwnd += delivered
        cwnd = max(cwnd, MIN_CWND * self.mss)
        if self.state == PROBE_RTT:
            cwnd = min(cwnd, MIN_CWND * self.mss)
        self.cwnd = cwnd

    def _set_pacing_rate(self, srtt: float | None) -> None:
        if not self.btlbw:
            return
        rate = self.pacing_gain * self.btlbw * (1 - PACING_MARGIN)
        if self.full_bw_reached or self._rate is None or rate > self._rate:
            self._rate = rate

    def pacing_rate(self, srtt: float | None) -> float | None:
        if self._rate is None:
            # No bandwidth sample yet: high_gain x IW / RTT (Linux
            # bbr_init_pacing_rate_from_rtt, 1 ms when there is no RTT).
            return HIGH_GAIN * self.cwnd / (srtt or 0.001)
        return self._rate

    # ------------------------------------------------------------- inputs

    def on_ack_sample(self, sample: AckSample) -> None:
        cwnd = self.cwnd
        if sample.rate is not None:
            self._update_model(sample)
            self._update_ack_aggregation(sample)
            self._update_state(sample)
            self._set_pacing_rate(None)
            cwnd = self.cwnd  # a PROBE_RTT exit may have restored it
        self._set_cwnd(sample, cwnd)

    def on_ack(self, acked: int, now: float, rtt: float | None) -> None:
        """Everything happens in on_ack_sample (after recovery has run)."""

    def on_loss(self, flight: int, now: float) -> None:
        # Recovery begins.  BBR keeps its model; the window for the first round
        # is set from what is in flight when the ACK's sample arrives.  ssthresh
        # only feeds recovery.py's own arithmetic until then.
        self.prior_cwnd = max(self.prior_cwnd, self.cwnd)
        self.ssthresh = max(min(flight, self.cwnd), MIN_CWND * self.mss)
        self.cwnd = self.ssthresh

    def on_rto(self, flight: int, now: float) -> None:
        # A timeout: restart from one segment, growing by what is delivered
        # (Linux's TCP_CA_Loss with BBR); the model is kept.
        self.prior_cwnd = max(self.prior_cwnd, self.cwnd)
        self.ssthresh = max(min(flight, self.cwnd), MIN_CWND * self.mss)
        self.cwnd = self.mss
        self._conservation = False
        self._was_in_recovery = False
        self.full_bw = 0.0
        self._full_bw_count = 0


register(Bbr)
