import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { createSelfSigned, derInteger } from '../../server/tls.js';

test('DER integers are minimal: no redundant leading zero, a zero before a high bit', () => {
  const hex = (b: number[]) => derInteger(Buffer.from(b)).toString('hex');
  assert.equal(hex([0x00, 0x12, 0x34]), '02021234', 'a leading zero before a low byte is dropped');
  assert.equal(hex([0x00, 0x00, 0x7f]), '02017f');
  assert.equal(hex([0x00, 0x80]), '02020080', 'kept where it marks a positive number');
  assert.equal(hex([0x80, 0x01]), '0203008001', 'added where the high bit is set');
  assert.equal(hex([0x00]), '020100');
  assert.equal(hex([0x12]), '020112');
});

test('self-signed certificates always parse, whatever their random serial', () => {
  // One in 256 random serials starts with a zero byte: 600 certificates hit that case ~2.3 times on average.
  for (let i = 0; i < 600; i++) {
    const { certPem } = createSelfSigned(['localhost', '127.0.0.1', '::1']);
    const cert = new X509Certificate(certPem);
    assert.ok(/^[0-9A-F]+$/.test(cert.serialNumber));
  }
});
