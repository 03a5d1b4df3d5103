#!/usr/bin/env node
// SMSC simulator for the mycpaas tests: an SMPP 3.4 server on node-smpp (npm `smpp` 0.5.1) that behaves like a
// carrier (delivery receipts, MO messages, failure injection by destination suffix, throttling, slow answers,
// retries of unanswered deliver_sm) plus an HTTP control API on loopback for the tests. node-smpp does the
// protocol; this file holds only carrier behaviour. Configuration is by environment: SMPP_PORT, CONTROL_PORT, USERS
// (id:pw,...), SYSTEM_ID, DLR_DELAY_MS, DLR_MODE (auto|manual), DLR_DATE_SECONDS, DLR_TLVS, MSG_ID_FORMAT (hex|dec),
// MAX_TPS, THROTTLE_EVERY, RESP_DELAY_MS, RECEIPT_BEFORE_RESP, SPREAD_DELIVERIES, SMSC_ENQUIRE_LINK_MS, IDLE_TIMEOUT_MS, LOG, and for the retry of
// unanswered deliver_sm DELIVER_TIMEOUT_MS (10000), DELIVER_RETRY_MS (1000), DELIVER_MAX_RETRIES (5).
// RECORD_FILE, if set, gets one JSON line per submit_sm (it outlives a restart, unlike /messages), and lines
// {"resp_written": ...} (a submit_sm_resp handed to the socket), {"receipt_acked": ...}, {"session_closed": ...}
// and {"malformed": ...} (a malformed PDU written to the session), each with the simulator's pid.
// Destination suffixes inject failures: 0001 RINVDSTADR, 0002 UNDELIV receipt, 0003 no receipt, 0004 EXPIRED,
// 0005 REJECTD, 0006 RTHROTTLED, 0007 RMSGQFUL twice then accepted, 0008 RSYSERR, and 0990NNN refuses with
// command_status NNN (decimal: ...0990072 is 0x48 RINVSRCTON). Text "ECHO x" comes back as MO "x". /mo takes
// naive=1 (cut parts inside an escape or surrogate pair), lose_resp=1 (deliver each part again after our OK, as if
// it were lost), skip=N (never send part N) and umr=N (user_message_reference). RECORD_FILE also gets {"bind": ...}
// (every bind attempt and its status), {"unbind": ...} and {"enquire_link": ...} (each received from the ESME).
'use strict';

const fs = require('fs');
const http = require('http');
const smpp = require('smpp');

const PDU = smpp.PDU;
const HOST = '127.0.0.1';

// ---------------------------------------------------------------- configuration

function envInt(name, fallback) {
	const value = process.env[name];
	if (value === undefined || value === '') return fallback;
	const n = Number(value);
	if (!Number.isFinite(n)) throw new Error(`${name} must be a number, not ${value}`);
	return n;
}

function envFlag(name, fallback) {
	const value = process.env[name];
	if (value === undefined || value === '') return fallback;
	return !['0', 'false', 'no', 'off'].includes(value.toLowerCase());
}

const SMPP_PORT = envInt('SMPP_PORT', 2775);
const CONTROL_PORT = envInt('CONTROL_PORT', 8775);
const SYSTEM_ID = process.env.SYSTEM_ID || 'mycsim';
const LOG = envFlag('LOG', false);
const ENQUIRE_LINK_MS = envInt('SMSC_ENQUIRE_LINK_MS', 0);
const IDLE_TIMEOUT_MS = envInt('IDLE_TIMEOUT_MS', 0);
const DELIVER_TIMEOUT_MS = envInt('DELIVER_TIMEOUT_MS', 10000); // no deliver_sm_resp within this: re-send
const DELIVER_RETRY_MS = envInt('DELIVER_RETRY_MS', 1000);
const DELIVER_MAX_RETRIES = envInt('DELIVER_MAX_RETRIES', 5);
const RECORD_FILE = process.env.RECORD_FILE || '';

const USERS = new Map();
for (const entry of (process.env.USERS || 'test:secret').split(',')) {
	const at = entry.indexOf(':');
	if (at > 0) USERS.set(entry.slice(0, at).trim(), entry.slice(at + 1));
}

const config = {
	dlr_delay_ms: envInt('DLR_DELAY_MS', 10),
	dlr_mode: process.env.DLR_MODE === 'manual' ? 'manual' : 'auto',
	dlr_date_seconds: envFlag('DLR_DATE_SECONDS', false),
	dlr_tlvs: envFlag('DLR_TLVS', true),
	msg_id_format: process.env.MSG_ID_FORMAT === 'dec' ? 'dec' : 'hex',
	max_tps: envInt('MAX_TPS', 0),
	throttle_every: envInt('THROTTLE_EVERY', 0), // every Nth submit is refused ESME_RTHROTTLED, whatever the rate
	resp_delay_ms: envInt('RESP_DELAY_MS', 0),
	receipt_before_resp: envFlag('RECEIPT_BEFORE_RESP', false),
	// Receipts go to another session of the account than the one that submitted, and the parts of an MO to
	// its sessions in turn (as SMSCs balancing deliveries over binds do); off: the submitting session.
	spread_deliveries: envFlag('SPREAD_DELIVERIES', false),
};

const E = smpp.errors;

function log(...args) {
	if (LOG) console.log(new Date().toISOString(), ...args);
}

// ---------------------------------------------------------------- node-smpp hooks
// node-smpp decodes short_message (GSM/latin1/UCS-2, UDH split off) and turns validity_period into a Date, so
// the raw bytes are gone by the time a 'pdu' event fires. Keep the raw PDU next to the parsed one. Also refuse
// command_length < 16: node-smpp would otherwise read past the PDU or skip a zero length silently.
const originalCommandLength = PDU.commandLength;
PDU.commandLength = function (stream) {
	const length = originalCommandLength(stream);
	if (length !== false && length < 16) throw new Error(`command_length ${length} is below 16`);
	return length;
};
PDU.fromStream = function (stream, commandLength) {
	const body = stream.read(commandLength - 4);
	if (!body) return false;
	const head = Buffer.alloc(4);
	head.writeUInt32BE(commandLength, 0);
	const raw = Buffer.concat([head, body]);
	const pdu = new PDU(raw);
	Object.defineProperty(pdu, 'raw', {value: raw, enumerable: false});
	return pdu;
};

// ---------------------------------------------------------------- state

let sessionCounter = 0;
const sessions = new Map(); // id -> state
let records = []; // every submit_sm, oldest first
let deliveries = []; // every deliver_sm attempt and the ESME's answer
const byMessageId = new Map();
const queued = new Map(); // system_id -> deliveries waiting for a receiving bind
const issuedIds = new Set(); // never cleared: ids stay unique for the life of the process
let statsIds = new Set();
let queueFullCounts = new Map(); // destination -> submits refused with ESME_RMSGQFUL so far
let deliveryCounter = 0;
let concatRef = Math.floor(Math.random() * 256);
let idCounter = 0x100000 + Math.floor(Math.random() * 0xE00000);

function freshStats() {
	return {submits: 0, submits_ok: 0, submits_rejected: 0, throttled: 0, receipts_sent: 0, receipts_acked: 0,
		mo_sent: 0, mo_acked: 0, resps_lost: 0, deliver_retries: 0, deliver_failed: 0, malformed_sent: 0, drops: 0,
		binds_total: 0, bind_failures: 0, enquire_links_received: 0, unbinds_received: 0, max_inflight: 0};
}
let stats = freshStats();

function nextMessageId() {
	for (;;) {
		idCounter += 1 + Math.floor(Math.random() * 3);
		const id = config.msg_id_format === 'dec' ? String(idCounter) : idCounter.toString(16).toUpperCase();
		if (!issuedIds.has(id)) {
			issuedIds.add(id);
			statsIds.add(id);
			return id;
		}
	}
}

// ---------------------------------------------------------------- text helpers

const GSM = smpp.encodings.ASCII; // node-smpp's name for GSM 03.38 (unpacked septets, one per byte)

function decodeText(dataCoding, bytes) {
	switch (dataCoding) {
		case 0x00:
			return GSM.decode(bytes);
		case 0x01:
			return bytes.toString('ascii');
		case 0x03:
			return bytes.toString('latin1');
		case 0x08: {
			const even = bytes.length - (bytes.length % 2);
			const swapped = Buffer.from(bytes.subarray(0, even));
			swapped.swap16();
			return swapped.toString('utf16le'); // keeps surrogate pairs, and lone surrogates, as code units
		}
		default:
			if ((dataCoding & 0xF4) === 0xF0) return GSM.decode(bytes); // message class, GSM alphabet
			return null;
	}
}

function ucs2Bytes(text) {
	const buf = Buffer.from(text, 'utf16le');
	buf.swap16();
	return buf;
}

// Receipt text: characters that are the same in ASCII and the GSM default alphabet, so the bytes read the same.
function receiptSafe(text) {
	return Array.from(text || '').map((c) => (/^[A-Za-z0-9 !"#%&'()*+,\-./:;<=>?]$/.test(c) ? c : '.')).join('');
}

function parseUdh(udh) {
	const result = {length: udh[0], hex: udh.toString('hex'), concat: null};
	let i = 1;
	while (i + 1 < udh.length) {
		const iei = udh[i];
		const len = udh[i + 1];
		const data = udh.subarray(i + 2, i + 2 + len);
		if (iei === 0x00 && len === 3) result.concat = {ref: data[0], total: data[1], seq: data[2], bits: 8};
		if (iei === 0x08 && len === 4) result.concat = {ref: data.readUInt16BE(0), total: data[2], seq: data[3], bits: 16};
		i += 2 + len;
	}
	return result;
}

// submit_sm body straight from the wire (SMPP 3.4 section 4.4.1).
function parseSubmit(raw) {
	let o = 16;
	const cstring = () => {
		const end = raw.indexOf(0, o);
		if (end < 0) throw new Error('unterminated C-Octet String');
		const s = raw.toString('latin1', o, end);
		o = end + 1;
		return s;
	};
	const u8 = () => {
		if (o >= raw.length) throw new Error('PDU too short');
		return raw[o++];
	};
	const p = {};
	p.service_type = cstring();
	p.source_addr_ton = u8();
	p.source_addr_npi = u8();
	p.source_addr = cstring();
	p.dest_addr_ton = u8();
	p.dest_addr_npi = u8();
	p.destination_addr = cstring();
	p.esm_class = u8();
	p.protocol_id = u8();
	p.priority_flag = u8();
	p.schedule_delivery_time = cstring();
	p.validity_period = cstring();
	p.registered_delivery = u8();
	p.replace_if_present_flag = u8();
	p.data_coding = u8();
	p.sm_default_msg_id = u8();
	const smLength = u8();
	if (o + smLength > raw.length) throw new Error('sm_length runs past the PDU');
	p.short_message = raw.subarray(o, o + smLength);
	o += smLength;
	p.tlvs = new Map();
	while (o + 4 <= raw.length) {
		const tag = raw.readUInt16BE(o);
		const len = raw.readUInt16BE(o + 2);
		p.tlvs.set(tag, raw.subarray(o + 4, o + 4 + len));
		o += 4 + len;
	}
	return p;
}

// Synchronous appends: a line is on disk before the answer it describes can reach the client.
function recordLine(entry) {
	if (RECORD_FILE) fs.appendFileSync(RECORD_FILE, JSON.stringify(entry) + '\n');
}

function pad(n, width = 2) {
	return String(n).padStart(width, '0');
}

function smppDate(ms) {
	const d = new Date(ms);
	const s = `${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}` +
		`${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}`;
	return config.dlr_date_seconds ? s + pad(d.getUTCSeconds()) : s;
}

const MESSAGE_STATE = {ENROUTE: 1, DELIVRD: 2, EXPIRED: 3, DELETED: 4, UNDELIV: 5, ACCEPTD: 6, UNKNOWN: 7, REJECTD: 8};

// ---------------------------------------------------------------- deliveries (receipts and MO)

function canReceive(st) {
	return st.bound && (st.bindType === 'transceiver' || st.bindType === 'receiver') && st.session.socket.writable;
}

function route(d) {
	if (d.preferredSession !== undefined) {
		const st = sessions.get(d.preferredSession);
		if (st && canReceive(st)) return st;
	}
	let newest = null;
	for (const st of sessions.values()) {
		if (canReceive(st) && (d.system_id === null || st.systemId === d.system_id)) newest = st;
	}
	return newest;
}

function enqueue(d) {
	const key = d.system_id;
	if (!queued.has(key)) queued.set(key, []);
	queued.get(key).push(d);
	log(`queued ${d.kind} for ${key}`);
}

function flushQueue(st) {
	for (const key of [st.systemId, null]) {
		const waiting = queued.get(key);
		if (!waiting || !waiting.length) continue;
		queued.delete(key);
		for (const d of waiting) {
			d.preferredSession = st.id;
			sendDelivery(d);
		}
	}
}

function scheduleRetry(d) {
	if (d.attempts > DELIVER_MAX_RETRIES) {
		stats.deliver_failed++;
		d.gaveUp = true;
		log(`gave up on ${d.kind} ${d.message_id || ''} after ${d.attempts} attempts`);
		return;
	}
	stats.deliver_retries++;
	setTimeout(() => sendDelivery(d), DELIVER_RETRY_MS);
}

function sendDelivery(d, onWritten) {
	const st = route(d);
	if (!st) {
		enqueue(d);
		if (onWritten) onWritten();
		return;
	}
	d.attempts++;
	const pdu = new PDU('deliver_sm', Object.assign({}, d.options));
	const entry = {id: ++deliveryCounter, kind: d.kind, attempt: d.attempts, session: st.id, system_id: st.systemId,
		sequence_number: null, source_addr: d.options.source_addr, destination_addr: d.options.destination_addr,
		esm_class: d.options.esm_class, data_coding: d.options.data_coding, message_id: d.message_id || null,
		text: d.text, part: d.part || null, sent_at: new Date().toISOString(), status: null, answered_at: null};
	deliveries.push(entry);
	let settled = false;
	const settle = (status) => {
		if (settled) return false;
		settled = true;
		clearTimeout(timer);
		st.pending.delete(entry.id);
		entry.status = status;
		entry.answered_at = new Date().toISOString();
		return true;
	};
	const timer = setTimeout(() => {
		if (!settle('timeout')) return;
		delete st.session._callbacks[pdu.sequence_number];
		log(`no deliver_sm_resp for seq ${pdu.sequence_number} within ${DELIVER_TIMEOUT_MS} ms`);
		scheduleRetry(d);
	}, DELIVER_TIMEOUT_MS);
	st.pending.set(entry.id, () => {
		if (settle('closed')) scheduleRetry(d);
	});
	const ok = st.session.send(pdu, (resp) => {
		if (!settle(resp.command_status)) return;
		if (resp.command_status === 0 && d.loseResp > 0) {
			d.loseResp--;
			entry.status = 'lost';
			stats.resps_lost++;
			log(`deliver_sm_resp for seq ${pdu.sequence_number} taken as lost; delivering again`);
			scheduleRetry(d);
		} else if (resp.command_status === 0) {
			if (d.kind === 'receipt') recordLine({receipt_acked: true, pid: process.pid, message_id: d.message_id});
			if (d.kind === 'receipt') stats.receipts_acked++;
			else stats.mo_acked++;
			if (d.record) d.record.receipt_acked = true;
		} else {
			log(`deliver_sm seq ${pdu.sequence_number} answered with status 0x${resp.command_status.toString(16)}`);
			scheduleRetry(d);
		}
	}, () => {
		if (onWritten) onWritten();
	});
	entry.sequence_number = pdu.sequence_number;
	if (!ok) {
		settle('unwritable');
		d.attempts--;
		enqueue(d);
		if (onWritten) onWritten();
		return;
	}
	if (d.kind === 'receipt') stats.receipts_sent++;
	else stats.mo_sent++;
	if (d.record) d.record.receipt_sent = true;
	log(`deliver_sm ${d.kind} seq ${pdu.sequence_number} -> session ${st.id} (${st.systemId})`);
}

function sendReceipt(rec, stat, err, onWritten) {
	const now = Date.now();
	const text = `id:${rec.message_id} sub:001 dlvrd:${stat === 'DELIVRD' ? '001' : '000'} ` +
		`submit date:${smppDate(rec.submitted_ms)} done date:${smppDate(now)} stat:${stat} err:${err} ` +
		`text:${receiptSafe(rec.text).slice(0, 20)}`;
	const options = {
		service_type: '', source_addr_ton: rec.dest_addr_ton, source_addr_npi: rec.dest_addr_npi,
		source_addr: rec.destination_addr, dest_addr_ton: rec.source_addr_ton, dest_addr_npi: rec.source_addr_npi,
		destination_addr: rec.source_addr, esm_class: 0x04, data_coding: 0, short_message: Buffer.from(text, 'ascii'),
	};
	if (config.dlr_tlvs) {
		options.receipted_message_id = rec.message_id;
		options.message_state = MESSAGE_STATE[stat] || MESSAGE_STATE.UNKNOWN;
	}
	rec.receipt_stat = stat;
	const preferredSession = config.spread_deliveries ? spreadSession(rec.system_id, rec.session, 1) : rec.session;
	const d = {kind: 'receipt', system_id: rec.system_id, preferredSession, options, attempts: 0,
		message_id: rec.message_id, text, record: rec};
	sendDelivery(d, onWritten);
}

// With spread_deliveries: the account's receiving session `step` places after session `from` (by id, wrapping).
function spreadSession(systemId, from, step) {
	const ids = Array.from(sessions.values()).filter((st) => canReceive(st) && st.systemId === systemId)
		.map((st) => st.id).sort((a, b) => a - b);
	if (!ids.length) return from;
	const at = Math.max(0, ids.indexOf(from));
	return ids[(at + step) % ids.length];
}

// Splits an MO into parts; returns [{bytes, udh|null, seq, total, ref}].
// With `naive`, parts are cut at the size limit even inside a GSM escape pair or a UTF-16 surrogate pair, as some
// handsets and SMSCs do: the receiver must join the parts before it decodes them.
function splitMo(text, ucs2, naive) {
	const bytes = ucs2 ? ucs2Bytes(text) : GSM.encode(text);
	const single = ucs2 ? 140 : 160;
	if (bytes.length <= single) return [{bytes, seq: 1, total: 1}];
	const parts = [];
	let start = 0;
	if (ucs2) {
		const units = bytes.length / 2;
		while (start < units) {
			let end = Math.min(start + 67, units);
			const last = bytes.readUInt16BE((end - 1) * 2);
			if (!naive && end < units && last >= 0xD800 && last <= 0xDBFF) end--; // keep a surrogate pair together
			parts.push(bytes.subarray(start * 2, end * 2));
			start = end;
		}
	} else {
		while (start < bytes.length) {
			let end = Math.min(start + 153, bytes.length);
			for (let i = start; i < end; i++) {
				if (bytes[i] === 0x1B) {
					if (!naive && i + 1 === end && end < bytes.length) {
						end = i; // never split an escape pair
						break;
					}
					i++;
				}
			}
			parts.push(bytes.subarray(start, end));
			start = end;
		}
	}
	return parts.map((b, i) => ({bytes: b, seq: i + 1, total: parts.length}));
}

// `loseResp`: the ESME's first OK answer to each part is taken as lost and the part is delivered again (a new
// sequence number, after DELIVER_RETRY_MS), as an SMSC does when a deliver_sm_resp never reaches it. `skip`: the
// part with that number is never sent. `umr`: the user_message_reference TLV (the handset's TP-MR).
function sendMo({from, to, text, ucs2, sar, udh16, systemId, preferredSession, ton, naive, loseResp, skip, umr}) {
	const parts = splitMo(text, ucs2, naive);
	concatRef = (concatRef + 1) % 65536;
	const ref8 = concatRef & 0xFF;
	let target = null;
	const probe = {system_id: systemId, preferredSession};
	target = route(probe);
	for (const part of parts) {
		const options = {
			service_type: '', source_addr_ton: ton ? ton.src_ton : 1, source_addr_npi: ton ? ton.src_npi : 1,
			source_addr: from, dest_addr_ton: ton ? ton.dst_ton : 1, dest_addr_npi: ton ? ton.dst_npi : 1,
			destination_addr: to, esm_class: 0, data_coding: ucs2 ? 8 : 0, short_message: part.bytes,
		};
		if (part.total > 1 && sar) {
			options.sar_msg_ref_num = concatRef;
			options.sar_total_segments = part.total;
			options.sar_segment_seqnum = part.seq;
		} else if (part.total > 1 && udh16) { // IEI 0x08: a 16-bit reference
			options.esm_class = 0x40;
			const ref16 = 0x1200 | (concatRef & 0xFF); // above 255: an 8-bit reader gets it wrong
			const head = Buffer.from([6, 8, 4, ref16 >> 8, ref16 & 0xFF, part.total, part.seq]);
			options.short_message = Buffer.concat([head, part.bytes]);
		} else if (part.total > 1) {
			options.esm_class = 0x40;
			options.short_message = Buffer.concat([Buffer.from([5, 0, 3, ref8, part.total, part.seq]), part.bytes]);
		}
		if (umr !== undefined && umr !== null) options.user_message_reference = umr;
		if (part.seq === skip) continue;
		let session = target ? target.id : preferredSession;
		if (target && config.spread_deliveries) session = spreadSession(target.systemId, target.id, part.seq - 1);
		const d = {kind: 'mo', system_id: target ? target.systemId : systemId,
			preferredSession: session, options, attempts: 0, text, loseResp: loseResp ? 1 : 0,
			part: part.total > 1 ? `${part.seq}/${part.total}` : null};
		sendDelivery(d);
	}
	return {parts: parts.length, session: target ? target.id : null, system_id: target ? target.systemId : systemId,
		queued: !target,
		ref: parts.length > 1 ? (udh16 ? 0x1200 | (concatRef & 0xFF) : sar ? concatRef : ref8) : null};
}

// ---------------------------------------------------------------- SMPP sessions

function takeToken(st) {
	if (!(config.max_tps > 0)) return true;
	const now = Date.now();
	if (!st.bucket || st.bucket.rate !== config.max_tps) {
		st.bucket = {rate: config.max_tps, tokens: config.max_tps, at: now};
	}
	const b = st.bucket;
	b.tokens = Math.min(b.rate, b.tokens + ((now - b.at) / 1000) * b.rate);
	b.at = now;
	if (b.tokens < 1) return false;
	b.tokens -= 1;
	return true;
}

function handleBind(st, pdu) {
	const type = pdu.command.replace('bind_', '');
	const reply = (status) => {
		const opts = status ? {command_status: status} : {system_id: SYSTEM_ID};
		st.session.send(pdu.response(opts));
	};
	if (st.bound) return reply(E.ESME_RALYBND);
	const password = USERS.get(pdu.system_id);
	const status = password === undefined ? E.ESME_RINVSYSID : password !== pdu.password ? E.ESME_RINVPASWD : 0;
	recordLine({bind: true, pid: process.pid, session: st.id, system_id: pdu.system_id, status, ms: Date.now()});
	if (password === undefined) {
		stats.bind_failures++;
		log(`session ${st.id}: unknown system_id ${pdu.system_id}`);
		return reply(E.ESME_RINVSYSID);
	}
	if (password !== pdu.password) {
		stats.bind_failures++;
		log(`session ${st.id}: wrong password for ${pdu.system_id}`);
		return reply(E.ESME_RINVPASWD);
	}
	st.bound = true;
	st.bindType = type;
	st.systemId = pdu.system_id;
	st.boundAt = new Date().toISOString();
	stats.binds_total++;
	reply(0);
	log(`session ${st.id}: bound ${type} as ${st.systemId}`);
	if (ENQUIRE_LINK_MS > 0) {
		st.enquireTimer = setInterval(() => {
			if (st.session.socket.writable) st.session.enquire_link();
		}, ENQUIRE_LINK_MS);
	}
	if (type !== 'transmitter') setImmediate(() => flushQueue(st));
}

function handleSubmit(st, pdu) {
	if (!st.bound || st.bindType === 'receiver') {
		st.session.send(pdu.response({command_status: E.ESME_RINVBNDSTS}));
		return;
	}
	let p;
	try {
		p = parseSubmit(pdu.raw);
	} catch (e) {
		log(`session ${st.id}: bad submit_sm: ${e.message}`);
		st.session.send(pdu.response({command_status: E.ESME_RINVMSGLEN}));
		return;
	}
	stats.submits++;
	// Submits received and not yet answered on this session: the ESME cannot have more unanswered than that
	// (an answer counts from when it is handed to the socket, before the ESME can have read it).
	st.inflight = (st.inflight || 0) + 1;
	stats.max_inflight = Math.max(stats.max_inflight, st.inflight);
	st.maxInflight = Math.max(st.maxInflight || 0, st.inflight);
	const udhi = (p.esm_class & 0x40) !== 0;
	let body = p.short_message;
	let udh = null;
	if (udhi && body.length > 0) {
		udh = parseUdh(body.subarray(0, body[0] + 1));
		body = body.subarray(body[0] + 1);
	}
	const tlvInt = (tag) => {
		const value = p.tlvs.get(tag);
		return value && value.length >= 1 && value.length <= 6 ? value.readUIntBE(0, value.length) : null;
	};
	const sar = p.tlvs.has(0x020C) || p.tlvs.has(0x020E) || p.tlvs.has(0x020F)
		? {msg_ref_num: tlvInt(0x020C), total_segments: tlvInt(0x020E), segment_seqnum: tlvInt(0x020F)} : null;
	const payload = p.tlvs.get(0x0424) || null;
	let text = decodeText(p.data_coding, body);
	if (!body.length && payload) text = decodeText(p.data_coding, payload);
	const otherTlvs = {};
	for (const [tag, value] of p.tlvs) {
		if (![0x020C, 0x020E, 0x020F, 0x0424].includes(tag)) otherTlvs[`0x${tag.toString(16).padStart(4, '0')}`] = value.toString('hex');
	}
	const now = Date.now();
	const rec = {
		sequence_number: pdu.sequence_number, session: st.id, system_id: st.systemId, bind_type: st.bindType,
		service_type: p.service_type, source_addr: p.source_addr, source_addr_ton: p.source_addr_ton,
		source_addr_npi: p.source_addr_npi, destination_addr: p.destination_addr, dest_addr_ton: p.dest_addr_ton,
		dest_addr_npi: p.dest_addr_npi, esm_class: p.esm_class, protocol_id: p.protocol_id,
		priority_flag: p.priority_flag, schedule_delivery_time: p.schedule_delivery_time,
		validity_period: p.validity_period, registered_delivery: p.registered_delivery, data_coding: p.data_coding,
		short_message_hex: p.short_message.toString('hex'), udh, sar,
		message_payload_hex: payload ? payload.toString('hex') : null, tlvs: otherTlvs, text,
		submitted_at: new Date(now).toISOString(), submitted_ms: now, status: 0, message_id: null,
		receipt_sent: false, receipt_acked: false, receipt_stat: null,
	};
	records.push(rec);

	const suffix = (p.destination_addr.match(/(\d{4})$/) || [])[1];
	let status = 0;
	if (!takeToken(st)) status = E.ESME_RTHROTTLED;
	else if (config.throttle_every > 0 && stats.submits % config.throttle_every === 0) status = E.ESME_RTHROTTLED;
	else if (suffix === '0001') status = E.ESME_RINVDSTADR;
	else if (suffix === '0006') status = E.ESME_RTHROTTLED;
	else if (suffix === '0008') status = E.ESME_RSYSERR;
	else if (/0990\d{3}$/.test(p.destination_addr)) status = Number(p.destination_addr.slice(-3));
	else if (suffix === '0007') {
		const seen = queueFullCounts.get(p.destination_addr) || 0;
		if (seen < 2) {
			queueFullCounts.set(p.destination_addr, seen + 1);
			status = E.ESME_RMSGQFUL;
		}
	}
	rec.status = status;
	let sentMs = null;
	const respond = (opts, afterWrite) => {
		const written = () => {
			recordLine({resp_written: true, pid: process.pid, session: st.id, sequence_number: pdu.sequence_number,
				status: rec.status, message_id: rec.message_id, sent_ms: sentMs, written_ms: Date.now()});
			if (afterWrite) afterWrite();
		};
		const send = () => {
			sentMs = Date.now();
			st.inflight--;
			st.session.send(pdu.response(opts), undefined, written);
		};
		if (config.resp_delay_ms > 0) setTimeout(send, config.resp_delay_ms);
		else send();
	};
	if (status) recordLine(Object.assign({pid: process.pid}, rec));
	if (status) {
		if (status === E.ESME_RTHROTTLED) stats.throttled++;
		stats.submits_rejected++;
		log(`session ${st.id}: submit_sm to ${p.destination_addr} refused 0x${status.toString(16)}`);
		respond({command_status: status});
		return;
	}
	stats.submits_ok++;
	rec.message_id = nextMessageId();
	byMessageId.set(rec.message_id, rec);
	recordLine(Object.assign({pid: process.pid}, rec));
	log(`session ${st.id}: submit_sm ${p.source_addr} -> ${p.destination_addr} id ${rec.message_id}`);

	const wantsReceipt = (p.registered_delivery & 0x03) !== 0 && suffix !== '0003' && config.dlr_mode === 'auto';
	const stat = {'0002': ['UNDELIV', '001'], '0004': ['EXPIRED', '000'], '0005': ['REJECTD', '000']}[suffix] ||
		['DELIVRD', '000'];
	const echo = typeof text === 'string' && text.startsWith('ECHO ') ? text.slice(5) : null;
	const sendEcho = () => {
		if (echo === null) return;
		const ucs2 = !GSM.match(echo);
		sendMo({from: p.destination_addr, to: p.source_addr, text: echo, ucs2, sar: false, systemId: st.systemId,
			preferredSession: st.id, ton: {src_ton: p.dest_addr_ton, src_npi: p.dest_addr_npi,
				dst_ton: p.source_addr_ton, dst_npi: p.source_addr_npi}});
	};
	if (wantsReceipt && config.receipt_before_resp) {
		sendReceipt(rec, stat[0], stat[1], () => {
			respond({message_id: rec.message_id});
			setTimeout(sendEcho, config.resp_delay_ms + config.dlr_delay_ms);
		});
		return;
	}
	respond({message_id: rec.message_id}, () => {
		setTimeout(() => {
			if (wantsReceipt) sendReceipt(rec, stat[0], stat[1]);
			sendEcho();
		}, config.dlr_delay_ms);
	});
}

const NOT_SUPPORTED = new Set(['data_sm', 'submit_multi', 'cancel_sm', 'replace_sm', 'query_sm', 'broadcast_sm',
	'cancel_broadcast_sm', 'query_broadcast_sm']);

function onSession(session) {
	const st = {id: ++sessionCounter, session, bound: false, bindType: null, systemId: null, boundAt: null,
		pending: new Map(), bucket: null, enquireTimer: null, idleTimer: null, lastRx: Date.now(),
		remotePort: session.socket.remotePort};
	sessions.set(st.id, st);
	session.socket.setNoDelay(true);
	log(`session ${st.id}: connected from port ${st.remotePort}`);

	session.on('error', (e) => {
		// node-smpp stops reading after a parse error; this session is useless from here on.
		log(`session ${st.id}: error ${e.message}`);
		session.destroy();
	});
	session.on('close', () => {
		recordLine({session_closed: true, pid: process.pid, session: st.id, ms: Date.now()});
		sessions.delete(st.id);
		clearInterval(st.enquireTimer);
		clearInterval(st.idleTimer);
		for (const onClose of Array.from(st.pending.values())) onClose();
		log(`session ${st.id}: closed`);
	});
	if (IDLE_TIMEOUT_MS > 0) {
		st.idleTimer = setInterval(() => {
			if (Date.now() - st.lastRx < IDLE_TIMEOUT_MS) return;
			log(`session ${st.id}: idle for ${IDLE_TIMEOUT_MS} ms, unbinding`);
			clearInterval(st.idleTimer);
			session.unbind();
			setTimeout(() => session.destroy(), 500);
		}, Math.max(50, Math.min(1000, IDLE_TIMEOUT_MS / 4)));
	}

	session.on('pdu', (pdu) => {
		st.lastRx = Date.now();
		if (pdu.isResponse()) return; // answers to our deliver_sm / enquire_link go to node-smpp's callbacks
		switch (pdu.command) {
			case 'bind_transceiver':
			case 'bind_transmitter':
			case 'bind_receiver':
				handleBind(st, pdu);
				break;
			case 'submit_sm':
				handleSubmit(st, pdu);
				break;
			case 'enquire_link':
				stats.enquire_links_received++;
				recordLine({enquire_link: true, pid: process.pid, session: st.id, ms: Date.now()});
				session.send(pdu.response());
				break;
			case 'unbind':
				stats.unbinds_received++;
				recordLine({unbind: true, pid: process.pid, session: st.id, ms: Date.now()});
				st.bound = false;
				session.send(pdu.response(), () => session.close());
				break;
			case 'unknown':
				session.send(pdu.response()); // generic_nack, ESME_RINVCMDID
				break;
			default:
				if (NOT_SUPPORTED.has(pdu.command) || `${pdu.command}_resp` in smpp.commands) {
					session.send(pdu.response({command_status: E.ESME_RINVCMDID}));
				} else {
					session.send(new PDU('generic_nack', {sequence_number: pdu.sequence_number,
						command_status: E.ESME_RINVCMDID}));
				}
		}
	});
}

// ---------------------------------------------------------------- control API

function bindsList() {
	return Array.from(sessions.values()).filter((st) => st.bound).map((st) => ({session: st.id,
		system_id: st.systemId, bind_type: st.bindType, remote_port: st.remotePort, bound_at: st.boundAt,
		pending_deliveries: st.pending.size, max_inflight: st.maxInflight || 0}));
}

function statsBody() {
	let queuedCount = 0;
	for (const list of queued.values()) queuedCount += list.length;
	return Object.assign({}, stats, {binds: bindsList(), sessions: sessions.size, queued_deliveries: queuedCount,
		unique_message_ids: statsIds.size, messages_recorded: records.length, config});
}

const CONFIG_KEYS = {
	receipt_before_resp: (v) => !['0', 'false', ''].includes(v),
	spread_deliveries: (v) => !['0', 'false', ''].includes(v),
	dlr_date_seconds: (v) => !['0', 'false', ''].includes(v),
	dlr_tlvs: (v) => !['0', 'false', ''].includes(v),
	resp_delay_ms: Number,
	max_tps: Number,
	throttle_every: Number,
	dlr_delay_ms: Number,
	dlr_mode: (v) => {
		if (!['auto', 'manual'].includes(v)) throw new Error('dlr_mode is auto or manual');
		return v;
	},
	msg_id_format: (v) => {
		if (!['hex', 'dec'].includes(v)) throw new Error('msg_id_format is hex or dec');
		return v;
	},
};

function malformedBytes(kind) {
	switch (kind) {
		case 'garbage':
			return Buffer.from('GARBAGE\r\nnot smpp at all\0\0', 'latin1');
		case 'huge': // command_length far above 16384
			return Buffer.from('7fffffff000000150000000000000001', 'hex');
		case 'unknown': // well-formed PDU with an unassigned command_id
			return Buffer.from('000000100000ffff0000000000000001', 'hex');
		default: // header claims 8 bytes: shorter than the header itself
			return Buffer.from('00000008000000150000000000000001', 'hex');
	}
}

function handleControl(req, res) {
	const url = new URL(req.url, `http://${HOST}`);
	const q = url.searchParams;
	const send = (code, body) => {
		res.writeHead(code, {'content-type': 'application/json'});
		res.end(JSON.stringify(body));
	};
	try {
		switch (url.pathname) {
			case '/stats':
				return send(200, statsBody());
			case '/messages': {
				const limit = Number(q.get('limit') || 0);
				return send(200, limit > 0 ? records.slice(-limit) : records);
			}
			case '/deliveries': {
				const limit = Number(q.get('limit') || 0);
				return send(200, limit > 0 ? deliveries.slice(-limit) : deliveries);
			}
			case '/reset':
				records = [];
				deliveries = [];
				byMessageId.clear();
				queued.clear();
				statsIds = new Set();
				queueFullCounts = new Map();
				stats = freshStats();
				return send(200, {ok: true});
			case '/mo': {
				const from = q.get('from');
				const to = q.get('to');
				const text = q.get('text');
				if (!from || !to || text === null) return send(400, {error: 'from, to and text are required'});
				let systemId = q.get('system_id') || null;
				const probe = route({system_id: systemId});
				if (!probe && systemId === null) {
					if (USERS.size !== 1) return send(409, {error: 'no bound session can receive'});
					systemId = USERS.keys().next().value;
				}
				const result = sendMo({from, to, text, ucs2: q.get('ucs2') === '1', sar: q.get('sar') === '1', udh16: q.get('udh16') === '1',
					systemId, preferredSession: undefined, naive: q.get('naive') === '1', loseResp: q.get('lose_resp') === '1',
					skip: q.get('skip') ? Number(q.get('skip')) : null, umr: q.get('umr') ? Number(q.get('umr')) : null});
				return send(200, result);
			}
			case '/dlr': {
				const rec = byMessageId.get(q.get('id') || '');
				if (!rec) return send(404, {error: `no message with id ${q.get('id')}`});
				const stat = q.get('stat') || 'DELIVRD';
				const err = (q.get('err') || '000').padStart(3, '0');
				sendReceipt(rec, stat, err);
				return send(200, {ok: true, message_id: rec.message_id, stat, err});
			}
			case '/config': {
				for (const [key, value] of q) {
					if (!(key in CONFIG_KEYS)) return send(400, {error: `unknown config key ${key}`});
					config[key] = CONFIG_KEYS[key](value);
				}
				for (const st of sessions.values()) st.bucket = null;
				return send(200, config);
			}
			case '/malformed': {
				const bytes = malformedBytes(q.get('kind') || 'short');
				let written = 0;
				for (const st of sessions.values()) {
					if (st.bound && st.session.socket.writable) {
						recordLine({malformed: true, pid: process.pid, session: st.id, ms: Date.now()});
						st.session.socket.write(bytes);
						written++;
					}
				}
				stats.malformed_sent += written;
				return send(200, {sessions: written});
			}
			case '/drop': {
				let dropped = 0;
				for (const st of sessions.values()) {
					st.session.socket.destroy();
					dropped++;
				}
				stats.drops += dropped;
				return send(200, {sessions: dropped});
			}
			default:
				return send(404, {error: `no such endpoint ${url.pathname}`});
		}
	} catch (e) {
		return send(500, {error: String(e && e.stack ? e.stack : e)});
	}
}

// ---------------------------------------------------------------- start

const server = smpp.createServer(onSession);
server.on('error', (e) => {
	console.error(`SMPP server error: ${e.message}`);
	process.exit(1);
});
const control = http.createServer(handleControl);
control.on('error', (e) => {
	console.error(`control server error: ${e.message}`);
	process.exit(1);
});
control.listen(CONTROL_PORT, HOST, () => {
	server.listen(SMPP_PORT, HOST, () => {
		console.log(`smsc-sim listening smpp=${HOST}:${SMPP_PORT} control=http://${HOST}:${CONTROL_PORT} ` +
			`users=${Array.from(USERS.keys()).join(',')}`);
	});
});
// The Python helper holds our stdin open; when its process dies, stdin ends and we do not linger as an orphan.
if (envFlag('EXIT_ON_STDIN_EOF', false)) {
	process.stdin.on('end', () => process.exit(0));
	process.stdin.on('error', () => process.exit(0));
	process.stdin.resume();
}
for (const signal of ['SIGTERM', 'SIGINT']) {
	process.on(signal, () => {
		for (const st of sessions.values()) {
			recordLine({session_closed: true, pid: process.pid, session: st.id, ms: Date.now()});
			st.session.socket.destroy();
		}
		process.exit(0);
	});
}
