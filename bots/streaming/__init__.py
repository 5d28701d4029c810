"""Replies shown while they are written, on platforms that show them by editing a message
(Slack, Telegram).

The adapter that takes a message opens its live hash (wire.live) and asks for the reply
`live`: the gpu worker writes the text so far there while it generates. The adapter's
streamer (`streamer`, a thread of the `replyloop serve` process) reads its hashes every
quarter second and, paced per platform (`pacing`), posts the text so far with a mark that
says more is coming, then edits it as it grows. The final delivery, on the io queue, stays
authoritative (`handover`): it ends the stream and edits the streamed message into the
whole reply with its rating buttons, or posts the reply as before when nothing was
streamed.
"""
