#!/usr/bin/env node
// An independent HEP3 decoder for the tests: the npm package hep-js (installed by
// scripts/test into tests/peers/hep/node_modules). Reads a file of frames, one per line as
// hex, and prints one JSON object per frame: {"ok":true,"rcinfo":{...},"payload":"..."}, or
// {"ok":false} when hep-js refuses the frame.
'use strict';
const fs = require('fs');
const path = require('path');
const hep = require(path.join(__dirname, 'hep', 'node_modules', 'hep-js'));

const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n').filter((l) => l.length > 0);
for (const line of lines) {
  const decoded = hep.decapsulate(Buffer.from(line, 'hex'));
  if (!decoded) {
    console.log(JSON.stringify({ ok: false }));
    continue;
  }
  console.log(JSON.stringify({ ok: true, rcinfo: decoded.rcinfo, payload: decoded.payload }));
}
