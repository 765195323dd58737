// Subscribe with an unmodified pusher-js (Node) and print what happens as JSON lines.
// Usage: node subscribe.mjs '<json>' where json has realtime (the block from
// POST /chat/sessions), pk, session_token, channel (optional override), seconds.
import Pusher from "pusher-js";

const opts = JSON.parse(process.argv[2]);
const rt = opts.realtime;
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const pusher = new Pusher(opts.app_key ?? rt.key, {
  cluster: "mt1", // required by pusher-js even when self-hosted
  wsHost: rt.host,
  wsPort: rt.port,
  forceTLS: rt.scheme === "https",
  enabledTransports: ["ws"],
  channelAuthorization: {
    endpoint: rt.auth_endpoint,
    headers: { Authorization: `Bearer ${opts.pk}`, "X-Tickki-Session": opts.session_token },
  },
});

pusher.connection.bind("state_change", (s) => out({ type: "state", current: s.current }));
pusher.connection.bind("error", (err) => {
  const code = err?.data?.code ?? err?.error?.data?.code ?? null;
  out({ type: "error", code });
});

const channel = pusher.subscribe(opts.channel ?? rt.channel);
channel.bind("pusher:subscription_succeeded", () => out({ type: "subscribed", channel: channel.name }));
channel.bind("pusher:subscription_error", (e) => out({ type: "subscription_error", status: e.status ?? null }));
channel.bind_global((event, data) => {
  if (!event.startsWith("pusher:")) out({ type: "event", event, data });
});

setTimeout(() => { pusher.disconnect(); process.exit(0); }, (opts.seconds ?? 10) * 1000);
