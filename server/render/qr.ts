
/**
 * A QR code as an `<img>`-ready data URL (SVG). An image rather than inline markup: the page's
 * CSP allows `data:` images and nothing inline, and `alt` text describes it.
 */
export async function qrDataUrl(text: string): Promise<string> {
  // Loaded when a QR code is first drawn (the new-run and settings pages), not at gateway start.
  const { default: QRCode } = await import('qrcode');
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
}
