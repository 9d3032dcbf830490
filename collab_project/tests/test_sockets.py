"""The socket base (collab_project/sockets.py) on its own: sending to a socket
the client has just closed."""
from autobahn.exception import Disconnected

from collab_project.sockets import JsonSocketConsumer


async def test_sending_to_a_just_closed_socket_marks_it_closing_instead_of_raising():
    sent = []

    async def open_then_closed(message):
        if sent:
            raise Disconnected("Attempt to send on a closed protocol")
        sent.append(message)

    sock = JsonSocketConsumer()
    sock.base_send, sock.closing = open_then_closed, False
    await sock.send_json({"type": "heartbeat.ack", "seq": 1})
    assert sent == [{"type": "websocket.send", "text": '{"type":"heartbeat.ack","seq":1}'}] and not sock.closing
    await sock.send_text("{}")
    assert sock.closing
