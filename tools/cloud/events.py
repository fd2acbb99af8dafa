"""Downlink message builders in the shapes the real servers use.

Coze ids mirror ../shared/fixtures/coze-go/websocket_chat_success.txt: a UUID per event, 19-digit
numeric ids for chats / messages / conversations, a 53-character `detail.logid` that starts with
"02" and the connection's open time in ms, and `detail.respond_at` as a string of epoch ms.
Qwen events follow the OpenAI-realtime style envelope with an `event_id`.
"""

import random
import time
import uuid


class Ids:
    """Id factory for one connection; a seeded Random keeps test runs reproducible."""

    def __init__(self, seed=None, clock_ms=None):
        self._rand = random.Random(seed)
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._next = 7500000000000000000 + self._rand.randrange(10**16)
        self.logid = "02%d%s" % (self._clock_ms(), "%038x" % self._rand.getrandbits(152))

    def uuid(self):
        return str(uuid.UUID(int=self._rand.getrandbits(128), version=4))

    def numeric(self):
        self._next += self._rand.randrange(1000, 10**9)
        return str(self._next)

    def now_ms(self):
        return self._clock_ms()


def coze(ids, event_type, data=None):
    """A Coze downlink event: event_type, id, data (if any), detail{logid, respond_at}."""
    msg = {"event_type": event_type, "id": ids.uuid()}
    if data is not None:
        msg["data"] = data
    msg["detail"] = {"logid": ids.logid, "respond_at": str(ids.now_ms())}
    return msg


def coze_error(ids, code, msg):
    return coze(ids, "error", {"code": int(code), "msg": msg})


class CozeChat:
    """The ids of one chat turn, and the chat / message objects that carry them."""

    def __init__(self, ids, bot_id, conversation_id):
        self.ids = ids
        self.bot_id = bot_id
        self.conversation_id = conversation_id
        self.id = ids.numeric()
        self.answer_id = ids.numeric()
        self.created_at = ids.now_ms() // 1000

    def chat(self, status, **extra):
        data = {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "bot_id": self.bot_id,
            "created_at": self.created_at,
            "status": status,
            "usage": {"token_count": 0, "output_count": 0, "input_count": 0},
            "section_id": self.conversation_id,
        }
        data.update(extra)
        return data

    def message(self, role, mtype, content, content_type="text", message_id=None):
        return {
            "id": message_id or self.answer_id,
            "conversation_id": self.conversation_id,
            "bot_id": self.bot_id,
            "role": role,
            "type": mtype,
            "content": content,
            "content_type": content_type,
            "chat_id": self.id,
            "section_id": self.conversation_id,
        }


def qwen(ids, event_type, **fields):
    msg = {"event_id": "event_" + ids.uuid().replace("-", "")[:22], "type": event_type}
    msg.update(fields)
    return msg


def qwen_error(ids, code, message, etype="invalid_request_error", param=None):
    error = {"type": etype, "code": str(code), "message": message}
    if param is not None:
        error["param"] = param  # the field a refused request got wrong, e.g. "session.voice"
    return qwen(ids, "error", error=error)
