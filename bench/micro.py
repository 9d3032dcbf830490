"""Per-delivery CPU of the serialisation choices, in isolation (no sockets):
what one `task.updated` event costs to encode for a socket with orjson or the
standard library, and what the channel layer's msgpack costs for a message
carrying the encoded text or the payload dict.

    .venv/bin/python bench/micro.py
"""
import json
import timeit

import msgpack
import orjson

EVENT = {
    "type": "task.updated", "seq": 12345, "ts": "2026-11-25T21:47:40.406332Z",
    "actor": {"id": 17, "username": "alice"}, "op_id": "b17.42.1795647660406332000",
    "data": {
        "id": "bfb6370b-cc11-472e-9029-18971e74898e", "workspace": "16271cea-99fa-4fef-a110-889ec144f7c3",
        "title": "Write the quarterly report", "description": "", "status": "in_progress", "priority": 2,
        "due_date": "2026-12-01", "assigned_to": 17, "position": 12.0, "created_by": 3, "version": 7,
        "created_at": "2026-11-25T21:40:00.000000Z", "updated_at": "2026-11-25T21:47:40.406332Z",
        "changed": ["status"],
    },
}


def per_call_us(fn, number=20000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    text = orjson.dumps(EVENT).decode()
    with_text = {"type": "ws.event", "seq": 12345, "event": "task.updated", "text": text}
    with_dict = {"type": "ws.event", "seq": 12345, "event": "task.updated", "payload": EVENT}
    packed_text, packed_dict = msgpack.packb(with_text), msgpack.packb(with_dict)
    rows = [
        ("orjson.dumps(event).decode()", per_call_us(lambda: orjson.dumps(EVENT).decode())),
        ("json.dumps(event)", per_call_us(lambda: json.dumps(EVENT))),
        ("msgpack pack, message with text", per_call_us(lambda: msgpack.packb(with_text))),
        ("msgpack pack, message with dict", per_call_us(lambda: msgpack.packb(with_dict))),
        ("msgpack unpack, message with text", per_call_us(lambda: msgpack.unpackb(packed_text))),
        ("msgpack unpack, message with dict", per_call_us(lambda: msgpack.unpackb(packed_dict))),
        ("text.encode('utf8') (Daphne, per socket)", per_call_us(lambda: text.encode("utf8"))),
    ]
    print(f"event: {len(text)} bytes of JSON")
    for name, us in rows:
        print(f"{us:8.2f} us  {name}")


if __name__ == "__main__":
    main()
