// Ask the official Node validators whether they accept webhook signatures, as a customer application would.
//
// Started by tests/clients/test_webhook_validators.py, which makes the assertions. Reads one JSON array of
// cases on stdin:
//
//   [{"token": "...", "url": "...", "params": {...}, "signature": "...", "method": "POST" | "GET"}, ...]
//
// `url` is the full URL the application saw (for GET, with the webhook's parameters in its query string) and
// `params` the form fields of a POST ({} for GET). Prints one JSON object on stdout:
//
//   {"versions": {...}, "results": [{"twilio": bool, "compat": bool}, ...]}   (in the order of the cases)
//
// - twilio: npm twilio 6.x, `twilio.validateRequest(authToken, signature, url, params)`
//   (node_modules/twilio/lib/webhooks/webhooks.js).
// - compat: @signalwire/compatibility-api 3.x, `RestClient.validateRequest(authToken, signature, url, params,
//   suppressWarning)`, the vendored twilio-node webhooks module (lib/webhooks/webhooks.js, bundled into
//   dist/index.node.js) that the package copies onto RestClient.
'use strict';

const fs = require('fs');
const path = require('path');

const twilio = require('twilio');
const { RestClient } = require('@signalwire/compatibility-api');

function packageVersion(name) {
  // Read the file: @signalwire/compatibility-api's `exports` map blocks require('<pkg>/package.json').
  const file = path.join(__dirname, 'node_modules', name, 'package.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')).version;
}

const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
const results = cases.map(({ token, url, params, signature }) => ({
  twilio: twilio.validateRequest(token, signature, url, params) === true,
  // suppressWarning: the library would otherwise print a RELAY hint for params it does not recognize.
  compat: RestClient.validateRequest(token, signature, url, params, true) === true,
}));

process.stdout.write(
  JSON.stringify({
    versions: {
      twilio: packageVersion('twilio'),
      compat: packageVersion('@signalwire/compatibility-api'),
    },
    results,
  })
);
