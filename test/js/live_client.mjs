// Connect to a live view as the Foxglove app and Lichtblick do (@foxglove/ws-protocol's
// FoxgloveClient over `ws`), subscribe to one topic, decode its first message with
// @foxglove/rosmsg + @foxglove/rosmsg2-serialization and print a JSON summary.
//
//   node live_client.mjs ws://127.0.0.1:8765 /flood_map [SUBPROTOCOL] [TIMEOUT_S]
//
// SUBPROTOCOL defaults to the client's own, foxglove.websocket.v1 (what Lichtblick offered before
// late 2025); pass foxglove.sdk.v1 to be a newer client. Exit 0 with the summary; 2 on a
// connection or decoding error, 3 when nothing arrived in time.
import WebSocket from 'ws';
import wsProtocol from '@foxglove/ws-protocol';
import { parse } from '@foxglove/rosmsg';
import { MessageReader } from '@foxglove/rosmsg2-serialization';

const { FoxgloveClient } = wsProtocol;

const [url, topic, subprotocol, timeoutArg] = process.argv.slice(2);
if (!url || !topic) {
  console.error('usage: node live_client.mjs URL TOPIC [SUBPROTOCOL] [TIMEOUT_S]');
  process.exit(2);
}
const timeout = setTimeout(() => {
  console.error(`no ${topic} message within ${timeoutArg ?? 20} s`);
  process.exit(3);
}, 1000 * Number(timeoutArg ?? 20));

const ws = new WebSocket(url, [subprotocol ?? FoxgloveClient.SUPPORTED_SUBPROTOCOL]);
ws.on('unexpected-response', (_req, res) => {
  console.error(`handshake refused: HTTP ${res.statusCode}`);
  process.exit(2);
});
const client = new FoxgloveClient({ ws });
const subscriptions = new Map();
let serverName = null;
const advertised = [];

client.on('serverInfo', (info) => {
  serverName = info.name;
});
client.on('advertise', (channels) => {
  for (const channel of channels) {
    advertised.push(channel.topic);
    if (channel.topic !== topic) continue;
    try {
      const reader = new MessageReader(parse(channel.schema, { ros2: true }));
      subscriptions.set(client.subscribe(channel.id), { channel, reader });
    } catch (err) {
      console.error(`schema of ${topic} (${channel.schemaName}): ${err.message}`);
      process.exit(2);
    }
  }
});
client.on('message', ({ subscriptionId, data }) => {
  const entry = subscriptions.get(subscriptionId);
  if (!entry) return;
  let message;
  try {
    message = entry.reader.readMessage(data);
  } catch (err) {
    console.error(`message of ${topic}: ${err.message}`);
    process.exit(2);
  }
  clearTimeout(timeout);
  const { channel } = entry;
  console.log(
    JSON.stringify({
      protocol: ws.protocol,
      server: serverName,
      advertised,
      channel: {
        topic: channel.topic,
        encoding: channel.encoding,
        schemaName: channel.schemaName,
        schemaEncoding: channel.schemaEncoding,
      },
      message: {
        fields: Object.keys(message),
        frame_id: message.header?.frame_id,
        width: message.info?.width,
        height: message.info?.height,
        data: Array.from(message.data ?? []).slice(0, 16),
        transforms: Array.isArray(message.transforms)
          ? message.transforms.map((t) => ({
              parent: t.header.frame_id,
              child: t.child_frame_id,
              translation: [t.transform.translation.x, t.transform.translation.y,
                t.transform.translation.z],
              rotation: [t.transform.rotation.x, t.transform.rotation.y, t.transform.rotation.z,
                t.transform.rotation.w],
            }))
          : undefined,
      },
    }),
  );
  client.close();
  process.exit(0);
});
client.on('error', (err) => {
  console.error(`connection error: ${err?.message ?? err}`);
  process.exit(2);
});
