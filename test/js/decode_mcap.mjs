// Decode every message of an MCAP recording the way the Foxglove app and Lichtblick do:
// @mcap/core reads the file (zstd/lz4 chunks through @mcap/support), @foxglove/rosmsg parses
// each channel's 'ros2msg' schema and @foxglove/rosmsg2-serialization reads the CDR payloads.
//
//   node decode_mcap.mjs mission.mcap      -> one JSON object on stdout
//
// Exit 0 when the file was read (whatever was decoded), 2 when it could not be read at all.
import { readFileSync } from 'node:fs';

import { McapStreamReader } from '@mcap/core';
import { loadDecompressHandlers } from '@mcap/support';
import { parse } from '@foxglove/rosmsg';
import { MessageReader } from '@foxglove/rosmsg2-serialization';

const path = process.argv[2];
if (!path) {
  console.error('usage: node decode_mcap.mjs FILE.mcap');
  process.exit(2);
}
let bytes;
try {
  bytes = readFileSync(path);
} catch (err) {
  console.error(`cannot read ${path}: ${err.message}`);
  process.exit(2);
}

const reader = new McapStreamReader({ decompressHandlers: await loadDecompressHandlers() });
reader.append(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));

const schemas = new Map(); // id -> schema record
const channels = new Map(); // id -> { topic, schemaName, reader | error }
const topics = {}; // topic -> { schema, messages, decoded, error, sample }
let messages = 0;
let decoded = 0;

function channelReader(channel) {
  const schema = schemas.get(channel.schemaId);
  if (!schema) return { error: `channel ${channel.topic}: schema ${channel.schemaId} missing` };
  if (schema.encoding !== 'ros2msg' || channel.messageEncoding !== 'cdr') {
    return { error: `unsupported encodings ${schema.encoding}/${channel.messageEncoding}` };
  }
  try {
    const text = new TextDecoder().decode(schema.data);
    return { reader: new MessageReader(parse(text, { ros2: true })) };
  } catch (err) {
    return { error: `schema ${schema.name}: ${err.message}` };
  }
}

try {
  for (let record; (record = reader.nextRecord()); ) {
    if (record.type === 'Schema') {
      schemas.set(record.id, record);
    } else if (record.type === 'Channel') {
      const entry = { topic: record.topic, schemaName: schemas.get(record.schemaId)?.name };
      Object.assign(entry, channelReader(record));
      channels.set(record.id, entry);
      topics[record.topic] ??= {
        schema: entry.schemaName, messages: 0, decoded: 0, error: entry.error ?? null,
      };
    } else if (record.type === 'Message') {
      messages += 1;
      const channel = channels.get(record.channelId);
      const topic = topics[channel.topic];
      topic.messages += 1;
      if (!channel.reader) continue;
      try {
        const message = channel.reader.readMessage(record.data);
        decoded += 1;
        topic.decoded += 1;
        if (topic.sample === undefined) topic.sample = summarise(message);
      } catch (err) {
        topic.error ??= err.message;
      }
    }
  }
} catch (err) {
  console.error(`${path}: ${err.message}`);
  process.exit(2);
}
if (!reader.done()) {
  console.error(`${path}: the file ends inside a record`);
  process.exit(2);
}

// The top-level field names of a decoded message, with a few values a test can check.
function summarise(message) {
  const out = { fields: Object.keys(message) };
  if (message.header?.frame_id !== undefined) out.frame_id = message.header.frame_id;
  if (message.info?.width !== undefined) out.width = message.info.width;
  if (Array.isArray(message.transforms)) {
    out.transforms = message.transforms.map((t) => `${t.header.frame_id}->${t.child_frame_id}`);
  }
  return out;
}

console.log(JSON.stringify({ messages, decoded, topics }));
