// Drive an official Node client library against a real `mycpaas serve` process and print what it saw.
//
// Started by tests/clients/test_node_clients.py, which makes the assertions. Input comes from the environment:
//
//   DRIVER_CLIENT       "twilio" (npm twilio 6.x, plain http), "twilio-messaging" (npm twilio's Messaging v1
//                       domain, plain http) or "compat" (@signalwire/compatibility-api 3.x, https)
//   DRIVER_BASE_URL     twilio: the server root, e.g. http://127.0.0.1:PORT
//   DRIVER_SPACE_URL    compat: "127.0.0.1:PORT" (the library forces https); start node with
//                       NODE_EXTRA_CA_CERTS=<the server's self-signed certificate>
//   DRIVER_ACCOUNT_SID  the Account SID
//   DRIVER_AUTH_TOKEN   its Auth Token
//   DRIVER_SUB_SID, DRIVER_SUB_TOKEN   twilio-messaging: a subaccount with no services yet, made by the test
//
// It prints one JSON object on stdout. Only unexpected errors (e.g. `socket hang up`, a SyntaxError from an
// error body that is not JSON where a RestException was expected to be caught) make it exit non-zero.
'use strict';

const fs = require('fs');
const path = require('path');

const CLIENT = process.env.DRIVER_CLIENT;
const SID = process.env.DRIVER_ACCOUNT_SID;
const TOKEN = process.env.DRIVER_AUTH_TOKEN;
const FINAL = new Set(['delivered', 'undelivered', 'failed', 'canceled']);
const WRONG_TOKEN = TOKEN === '0'.repeat(32) ? '1'.repeat(32) : '0'.repeat(32);

function packageVersion(name) {
  // Read the file: @signalwire/compatibility-api's `exports` map blocks require('<pkg>/package.json').
  const file = path.join(__dirname, 'node_modules', name, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

function number() {
  return '+1415' + String(Math.floor(Math.random() * 1e7)).padStart(7, '0');
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// axios has usually parsed a JSON body already; an empty one (a 204) is "".
function parsedBody(body) {
  if (typeof body !== 'string') return body === undefined ? null : body;
  return body ? JSON.parse(body) : null;
}

// Wrap the library's own HTTP client to note every request and the response's status and Connection header
// (and, with `bodies`, the parsed response body, for the test to validate against the OpenAPI schemas).
function record(client, bodies = false) {
  const calls = [];
  const http = client.httpClient;
  const original = http.request.bind(http);
  http.request = (opts) => {
    if (calls.length >= 200) throw new Error('runaway paging: ' + JSON.stringify(calls.slice(-3)));
    const call = { method: String(opts.method).toUpperCase(), uri: opts.uri, params: opts.params || {} };
    calls.push(call);
    return Promise.resolve(original(opts)).then((response) => {
      const headers = opts.headers || {};
      call.request_connection = headers.Connection || headers.connection || null;
      call.user_agent = headers['User-Agent'] || null;
      call.status = response.statusCode;
      const responseHeaders = response.headers || {};
      call.response_connection = responseHeaders.connection || responseHeaders.Connection || null;
      if (bodies) call.body = parsedBody(response.body);
      return response;
    });
  };
  return calls;
}

// What a failing call threw: its class and the RestException fields, or what it returned instead.
async function restError(call) {
  try {
    const result = await call();
    return { type: 'no error', result: String(result) };
  } catch (error) {
    return {
      type: error && error.constructor ? error.constructor.name : typeof error,
      status: error.status === undefined ? null : error.status,
      code: error.code === undefined ? null : error.code,
      message: error.message === undefined ? null : error.message,
      moreInfo: error.moreInfo === undefined ? null : error.moreInfo,
    };
  }
}

async function waitFinal(client, sid, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await client.messages(sid).fetch();
    if (FINAL.has(message.status) || Date.now() > deadline) return message;
    await sleep(50);
  }
}

function isUtcDate(value) {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

// create / fetch / wait for delivery / redact / remove / fetch the removed one.
async function messageLifecycle(client, calls, label, out) {
  const created = await client.incomingPhoneNumbers.create({ phoneNumber: number() });
  const sender = created.phoneNumber;
  out.number = { sid: created.sid, phone_number: sender, account_sid: created.accountSid };
  const recipient = number();

  const before = calls.length;
  const message = await client.messages.create({ to: recipient, from: sender, body: `Hello from ${label}` });
  const createCall = calls[before];
  out.create = {
    sid: message.sid,
    account_sid: message.accountSid,
    to: message.to,
    from: message.from,
    body: message.body,
    status: message.status,
    direction: message.direction,
    date_created_valid: isUtcDate(message.dateCreated),
    uri: message.uri,
    recipient,
    sender,
    request: { method: createCall.method, uri: createCall.uri, status: createCall.status },
  };
  const fetched = await client.messages(message.sid).fetch();
  out.fetch = { sid: fetched.sid, body: fetched.body, to: fetched.to, from: fetched.from };
  const final = await waitFinal(client, message.sid);
  out.final = { status: final.status, date_sent_valid: isUtcDate(final.dateSent) };
  const redacted = await client.messages(message.sid).update({ body: '' });
  out.redact = { body: redacted.body, fetched_body: (await client.messages(message.sid).fetch()).body };
  const removeAt = calls.length;
  out.remove = await client.messages(message.sid).remove();
  out.remove_status = calls[removeAt].status;
  out.fetch_removed = await restError(() => client.messages(message.sid).fetch());
  return sender;
}

// 5 messages to one recipient, 2 to another; list the first recipient's at PageSize=2 (3 pages).
async function paging(client, calls, sender, out) {
  const target = number();
  const other = number();
  const wanted = [];
  for (let i = 0; i < 5; i++) {
    wanted.push((await client.messages.create({ to: target, from: sender, body: `page ${i}` })).sid);
  }
  for (let i = 0; i < 2; i++) {
    await client.messages.create({ to: other, from: sender, body: `other ${i}` });
  }
  const newestFirst = wanted.slice().reverse();

  let start = calls.length;
  const listed = await client.messages.list({ to: target, pageSize: 2 });
  out.list = {
    target,
    wanted_newest_first: newestFirst,
    listed: listed.map((m) => m.sid),
    listed_to: [...new Set(listed.map((m) => m.to))],
    gets: calls.slice(start).filter((c) => c.method === 'GET'),
  };

  start = calls.length;
  const limited = await client.messages.list({ to: target, pageSize: 2, limit: 3 });
  out.list_limited = {
    listed: limited.map((m) => m.sid),
    gets: calls.slice(start).filter((c) => c.method === 'GET').length,
  };

  // Page by hand: page() then nextPage() until it returns undefined (next_page_uri null).
  const sizes = [];
  const seen = [];
  let page = await client.messages.page({ to: target, pageSize: 2 });
  while (page) {
    sizes.push(page.instances.length);
    seen.push(...page.instances.map((m) => m.sid));
    if (sizes.length > 10) break;
    page = await page.nextPage();
  }
  out.pages = { sizes, sids: seen };
  return target;
}

async function unauthorized(makeClient, sender, out) {
  const wrong = makeClient(SID, WRONG_TOKEN);
  out.wrong_token = {
    create: await restError(() => wrong.messages.create({ to: number(), from: sender, body: 'x' })),
    fetch: await restError(() => wrong.messages('SM' + '0'.repeat(32)).fetch()),
    list: await restError(() => wrong.messages.list({ limit: 1 })),
  };
}

// A message scheduled through a Messaging Service (the messaging domain pointed at the server too): created
// `scheduled` with sendAt as a Date, canceled, and canceled again (Twilio's 30409).
async function scheduling(client, out) {
  const numberSid = (await client.incomingPhoneNumbers.create({ phoneNumber: number() })).sid;
  const service = await client.messaging.v1.services.create({ friendlyName: 'twilio-node later' });
  await client.messaging.v1.services(service.sid).phoneNumbers.create({ phoneNumberSid: numberSid });
  const created = await client.messages.create({
    to: number(),
    messagingServiceSid: service.sid,
    body: 'later',
    scheduleType: 'fixed',
    sendAt: new Date(Date.now() + 3600 * 1000),
  });
  const canceled = await client.messages(created.sid).update({ status: 'canceled' });
  out.scheduling = {
    service: service.sid,
    created: { status: created.status, from: created.from, service: created.messagingServiceSid },
    canceled: { sid: canceled.sid, status: canceled.status, date_sent: canceled.dateSent },
    again: await restError(() => client.messages(created.sid).update({ status: 'canceled' })),
  };
}

// Sending through a Messaging Service: `messagingServiceSid` and no `from` (the messaging domain is pointed at
// the server like the api one).
async function messagingService(client, out) {
  const service = await client.messaging.v1.services.create({ friendlyName: 'node pool', areaCodeGeomatch: false });
  const pool = [];
  for (let i = 0; i < 2; i += 1) {
    const owned = await client.incomingPhoneNumbers.create({ phoneNumber: number() });
    await client.messaging.v1.services(service.sid).phoneNumbers.create({ phoneNumberSid: owned.sid });
    pool.push(owned.phoneNumber);
  }
  const to = number();
  const send = (body) => client.messages.create({ to, messagingServiceSid: service.sid, body });
  const created = await send('through a service');
  const final = await waitFinal(client, created.sid);
  const again = await waitFinal(client, (await send('again')).sid);
  out.service = {
    sid: service.sid,
    pool,
    created: {
      status: created.status,
      from: created.from,
      num_segments: created.numSegments,
      messaging_service_sid: created.messagingServiceSid,
    },
    final: { status: final.status, from: final.from, num_segments: final.numSegments },
    again: { status: again.status, from: again.from },
    unknown: await restError(() => client.messages.create({ to, messagingServiceSid: 'MG' + '0'.repeat(32), body: 'x' })),
  };
}

// The Messaging v1 API: a Service's create / fetch / update / list (PageSize=2 over 3, following
// meta.next_page_url) / delete, its PhoneNumbers and AlphaSenders, and another account's view of it. `client` is
// a fresh subaccount, so its service list is exactly what this makes; `owner` is the main account.
async function messagingV1(client, owner, calls, out) {
  const services = client.messaging.v1.services;
  const created = await services.create({
    friendlyName: 'node alerts',
    inboundRequestUrl: 'https://app.example/inbound',
    inboundMethod: 'GET',
    statusCallback: 'https://app.example/status',
    stickySender: false,
    validityPeriod: 600,
    useInboundWebhookOnNumber: true,
    areaCodeGeomatch: false,
  });
  const service = services(created.sid);
  out.created = created.toJSON();
  out.fetched = (await service.fetch()).toJSON();
  const changes = { friendlyName: 'node renamed', stickySender: true, inboundRequestUrl: '' };
  out.updated = (await service.update(changes)).toJSON();
  out.refetched = (await service.fetch()).toJSON();
  const second = await services.create({ friendlyName: 'node second' });
  const third = await services.create({ friendlyName: 'node third' });
  out.made = [created.sid, second.sid, third.sid];

  let start = calls.length;
  out.list = { sids: (await services.list({ pageSize: 2 })).map((s) => s.sid), gets: calls.slice(start) };
  const sizes = [];
  let page = await services.page({ pageSize: 2 });
  while (page && sizes.length < 10) {
    sizes.push(page.instances.length);
    page = await page.nextPage();
  }
  out.page_sizes = sizes;

  // The sender pool: two owned numbers in, listed, fetched, one removed; a pooled number cannot join another.
  const owned = [];
  for (let i = 0; i < 2; i += 1) owned.push((await client.incomingPhoneNumbers.create({ phoneNumber: number() })).sid);
  const pool = service.phoneNumbers;
  out.pool = { owned, added: [] };
  for (const sid of owned) out.pool.added.push((await pool.create({ phoneNumberSid: sid })).toJSON());
  out.pool.listed = (await pool.list({ pageSize: 1 })).map((n) => n.sid);
  out.pool.fetched = (await pool(owned[0]).fetch()).toJSON();
  out.pool.taken = await restError(() => services(second.sid).phoneNumbers.create({ phoneNumberSid: owned[1] }));
  start = calls.length;
  out.pool.remove = await pool(owned[0]).remove();
  out.pool.remove_status = calls[start].status;
  out.pool.fetch_removed = await restError(() => pool(owned[0]).fetch());
  out.pool.listed_after = (await pool.list()).map((n) => n.sid);

  const alphas = service.alphaSenders;
  const alpha = await alphas.create({ alphaSender: 'NodeCo' });
  out.alpha = {
    created: alpha.toJSON(),
    listed: (await alphas.list()).map((a) => a.sid),
    fetched: (await alphas(alpha.sid).fetch()).toJSON(),
  };
  start = calls.length;
  out.alpha.remove = await alphas(alpha.sid).remove();
  out.alpha.remove_status = calls[start].status;
  out.alpha.fetch_removed = await restError(() => alphas(alpha.sid).fetch());
  out.alpha.listed_after = (await alphas.list()).map((a) => a.sid);

  // Scoped to the credentials' account: the owner neither sees nor sends through the subaccount's service.
  out.foreign = {
    fetch: await restError(() => owner.messaging.v1.services(created.sid).fetch()),
    send: await restError(() => owner.messages.create({ to: number(), messagingServiceSid: created.sid, body: 'x' })),
  };

  start = calls.length;
  out.deleted = { remove: await services(third.sid).remove() };
  out.deleted.remove_status = calls[start].status;
  out.deleted.fetch_removed = await restError(() => services(third.sid).fetch());
  out.deleted.listed_after = (await services.list()).map((s) => s.sid);
}

function twilioClients() {
  const twilio = require('twilio');
  const base = process.env.DRIVER_BASE_URL;
  const makeClient = (username, password) => {
    const made = twilio(username, password);
    made.api.baseUrl = base;
    made.messaging.baseUrl = base;
    return made;
  };
  return { twilio, base, makeClient };
}

async function runTwilioMessaging(out) {
  const { makeClient } = twilioClients();
  out.versions = { twilio: packageVersion('twilio') };
  const client = makeClient(process.env.DRIVER_SUB_SID, process.env.DRIVER_SUB_TOKEN);
  const calls = record(client, true);
  out.messaging_base_url = client.messaging.baseUrl;
  await messagingV1(client, makeClient(SID, TOKEN), calls, out);
  out.calls = calls;
}

async function runTwilio(out) {
  const { twilio, makeClient } = twilioClients();
  out.versions = { twilio: packageVersion('twilio') };
  const client = makeClient(SID, TOKEN);
  const calls = record(client);
  out.base_url = client.api.baseUrl;
  const sender = await messageLifecycle(client, calls, 'twilio-node', out);
  const target = await paging(client, calls, sender, out);
  await scheduling(client, out);

  // The SignalWire-style prefix in the version: requests and followed pages stay under /api/laml.
  const laml = makeClient(SID, TOKEN);
  laml.api.v2010._version = 'api/laml/2010-04-01';
  const lamlCalls = record(laml);
  const lamlListed = await laml.messages.list({ to: target, pageSize: 2 });
  out.laml_list = { listed: lamlListed.map((m) => m.sid), gets: lamlCalls.map((c) => c.uri) };

  await unauthorized(makeClient, sender, out);
  out.wrong_token_is_rest_exception = await (async () => {
    try {
      await makeClient(SID, WRONG_TOKEN).messages('SM' + '0'.repeat(32)).fetch();
      return false;
    } catch (error) {
      return error instanceof twilio.RestException;
    }
  })();
  await messagingService(client, out);
  out.calls = calls;
}

async function runCompat(out) {
  const { RestClient } = require('@signalwire/compatibility-api');
  const space = process.env.DRIVER_SPACE_URL;
  const makeClient = (username, password) => RestClient(username, password, { signalwireSpaceUrl: space });
  out.versions = { compat: packageVersion('@signalwire/compatibility-api') };
  const client = makeClient(SID, TOKEN);
  const calls = record(client);
  out.base_url = client.api.baseUrl;
  const sender = await messageLifecycle(client, calls, 'signalwire-compat', out);
  await paging(client, calls, sender, out);
  await unauthorized(makeClient, sender, out);
  out.calls = calls;
}

async function main() {
  const out = { client: CLIENT, node: process.version };
  if (CLIENT === 'twilio') await runTwilio(out);
  else if (CLIENT === 'twilio-messaging') await runTwilioMessaging(out);
  else if (CLIENT === 'compat') await runCompat(out);
  else throw new Error(`DRIVER_CLIENT must be "twilio", "twilio-messaging" or "compat", not ${JSON.stringify(CLIENT)}`);
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((error) => {
  process.stderr.write((error && error.stack) || String(error));
  process.stderr.write('\n');
  process.exit(1);
});
