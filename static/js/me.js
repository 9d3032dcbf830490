// Pages other than the board: the bell over /ws/me/.
import { createBell } from "./bell.js";
import { colorizeAvatars } from "./dom.js";
import { LiveSocket } from "./socket.js";

colorizeAvatars();
const bell = createBell();
new LiveSocket("/ws/me/", {
  onMessage(msg) {
    if (msg.type === "hello") bell.setUnread(msg.unread);
    else if (msg.type === "notification") bell.handle(msg.data);
  },
}).start();
