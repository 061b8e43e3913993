"""Typed errors of the services. Each carries a stable ``code`` (machine-readable, never translated) and a
user-facing ``message`` (the seed's Chinese wording where the seed had one). Only ``facade.py`` turns them into
the seed's ``{"status": 0, "message", "data", "code"}`` envelope; views map them to HTTP answers.

A service checks its input before it writes anything, and refusals that depend on state are decided by the
write itself (a conditional UPDATE that matches nothing), so a refused request changes nothing it was refused
for. (Some refusals come after a harmless side effect that would have happened anyway: opening a packet
settles its round first, a first order opens the round and records the player.)
"""

from __future__ import annotations


class ClockError(Exception):
    """Base of every refusal the app gives on purpose."""

    code = "clock_error"
    message = "操作失败"

    def __init__(self, message: str | None = None, **context: object) -> None:
        self.message = message or self.message
        self.context = context
        super().__init__(self.message)


class InvalidInput(ClockError):
    """A required field is missing or has the wrong type; ``code`` names which."""

    code = "invalid_input"
    message = "参数错误"

    def __init__(self, code: str, message: str, **context: object) -> None:
        self.code = code
        super().__init__(message, **context)


# --- joining (orders and payment notifications)
class EntryNotOpen(ClockError):
    """A participant of yesterday's round may join today's only after its red packets open (08:05)."""

    code = "entry_not_open"
    message = "八点五分以后才可以参与活动哦"


class ProfileUnavailable(ClockError):
    """The HTTP prepay needs the payer's channel identity from ``CLOCK["PROFILE_RESOLVER"]``."""

    code = "profile_unavailable"
    message = "无法获取您的支付身份信息，请先授权后参与"


class ChannelUnavailable(ClockError):
    """The payment channel gave no answer we can trust (timeout, error, unverifiable signature)."""

    code = "channel_unavailable"
    message = "支付渠道暂时不可用，请稍后重试"


class EntryClosed(ClockError):
    """Round D takes stakes until 23:59:59 on D; an order of a closed round is not sent to the channel."""

    code = "entry_closed"
    message = "本轮报名已截止，请参与新一轮活动"


class AlreadyJoined(ClockError):
    code = "already_joined"
    message = "您今天已经参与过了，不要重复支付哦"


class OrderNumberExhausted(ClockError):
    code = "order_number_exhausted"
    message = "订单服务繁忙，请稍后重试"


# --- checking in
class OutsideWindow(ClockError):
    code = "outside_window"
    message = "当前时段不可以打卡哦"


class NotParticipant(ClockError):
    code = "not_participant"
    message = "您还没有参与过昨日的打卡活动"


class AlreadyClockedIn(ClockError):
    code = "already_clocked_in"
    message = "您已经打过卡了"


# --- settlement and payouts
class RoundNotFound(ClockError):
    code = "round_not_found"
    message = "该日没有打卡活动"


class RoundNotClosed(ClockError):
    """Settlement waits until the round's red packets open (``RED_OPEN``, after the window closed)."""

    code = "round_not_closed"
    message = "打卡尚未结束，不能开奖"


class RedNotOpen(ClockError):
    code = "red_not_open"
    message = "当前还未到开奖时间"


class NotWinner(ClockError):
    code = "not_winner"
    message = "您今天没有打卡成功哦"


class AlreadyPaid(ClockError):
    code = "already_paid"
    message = "您已经领取过红包了"


class PayoutInProgress(ClockError):
    """Another request holds this payout; its outcome will be recorded by that request or by the push job."""

    code = "payout_in_progress"
    message = "红包发放中，请稍后查看"


class PayoutFailed(ClockError):
    code = "payout_failed"
    message = "您的账号可能存在问题，系统会在24小时之内自动打款到您的账户，请注意查收"


class PayoutHeld(ClockError):
    """The channel cannot pay this amount (below its minimum or above a cap): owed, paid once it can be."""

    code = "payout_held"
    message = "红包金额超出渠道限额，已为您保留，将在可发放时自动发放"


class NoPayoutHandler(ClockError):
    code = "no_payout_handler"
    message = "未配置打款渠道"
