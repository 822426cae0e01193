import { test, expect } from '@playwright/test';
import * as http from 'http';
import * as crypto from 'crypto';
import { AddressInfo } from 'net';
import { shoot, hydrated, signIn, newCompany } from './helpers';

test('edit the weights with a reason, see the diff in the history, and restore a version', async ({ page }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const stamp = Date.now();
  const slug = `weights-${stamp}`;
  await signIn(page);
  await newCompany(page, `Weights ${stamp}`, slug, `/t/${slug}/weights`);
  await expect(page.getByText('No overrides: every weight is at its default.')).toBeVisible();
  await hydrated(page);

  // A change needs a reason; the message shows in place.
  const hour = page.getByLabel('Value of a volunteer hour');
  await hour.fill('34.79');
  await page.getByRole('button', { name: 'Save weights' }).click();
  await expect(page.getByText('Say why you are changing the weights')).toBeVisible();
  await page.getByLabel('Reason for the change').fill('2025 Independent Sector rate');
  await page.getByRole('button', { name: 'Save weights' }).click();
  await expect(page.getByText('Saved. The change and its reason are in the history.')).toBeVisible();
  await expect(page.getByText(/Overrides last changed/)).toBeVisible();

  // Out of bounds: refused, with the bound named.
  await page.getByLabel('Deadweight').fill('0.99');
  await page.getByLabel('Reason for the change').fill('Typo');
  await page.getByRole('button', { name: 'Save weights' }).click();
  await expect(page.getByText('Must be between 0 and 0.95')).toBeVisible();

  await page.getByLabel('Deadweight').fill('');
  await hour.fill('36');
  await page.getByLabel('Reason for the change').fill('Board decision');
  await page.getByRole('button', { name: 'Save weights' }).click();
  await expect(page.getByText('Saved. The change and its reason are in the history.')).toBeVisible();
  await shoot(page, '17-weights-editor');

  // The history shows each change as old → new, newest first.
  await page.getByRole('link', { name: 'SROI history' }).click();
  await expect(page).toHaveURL(new RegExp(`/t/${slug}/weights/sroi/history$`));
  const entries = page.locator('ol.history > li');
  await expect(entries).toHaveCount(2);
  await expect(entries.first()).toContainText('“Board decision”');
  await expect(entries.first().locator('del')).toHaveText('34.79');
  await expect(entries.first().locator('ins')).toHaveText('36');
  await expect(entries.nth(1)).toContainText('Overrides created');
  await shoot(page, '18-weights-history');

  // Restore the first version: a new change with its own reason; history is kept.
  await hydrated(page);
  await entries.nth(1).getByText('Restore this version').click();
  await entries.nth(1).getByLabel('Reason for restoring').fill('Undo the board change');
  await entries.nth(1).getByRole('button', { name: 'Restore', exact: true }).click();
  await expect(page.getByText('Restored, as a new change at the top of the history.')).toBeVisible();
  await expect(entries).toHaveCount(3);
  await expect(entries.first()).toContainText('“Undo the board change”');
  await expect(entries.first().locator('ins')).toHaveText('34.79');
  await page.getByRole('link', { name: 'SROI', exact: true }).click();
  await expect(page.getByLabel('Value of a volunteer hour')).toHaveValue('34.79');
  expect(problems).toEqual([]);
});

/** A partner's endpoint: records each delivery and answers 200. */
class LocalReceiver {
  hits: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  server?: http.Server;
  port = 0;

  async start(port = 0) {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        this.hits.push({ headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"received":true}');
      });
    });
    await new Promise<void>((ok) => this.server!.listen(port, '127.0.0.1', ok));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop() {
    this.server?.closeAllConnections();
    await new Promise<void>((ok) => this.server!.close(() => ok()));
  }
}

function verifies(secret: string, hit: { headers: http.IncomingHttpHeaders; body: string }) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signed = `${hit.headers['webhook-id']}.${hit.headers['webhook-timestamp']}.${hit.body}`;
  const expected = crypto.createHmac('sha256', key).update(signed).digest('base64');
  return String(hit.headers['webhook-signature']).split(' ').includes(`v1,${expected}`);
}

test('configure an integration, send a test delivery, watch retries fail while the receiver is down, then replay', async ({ page }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const receiver = new LocalReceiver();
  await receiver.start();
  const secret = `whsec_${crypto.randomBytes(32).toString('base64')}`;
  const stamp = Date.now();
  const slug = `hooks-${stamp}`;
  await signIn(page);
  await newCompany(page, `Hooks ${stamp}`, slug, `/t/${slug}/integrations`);
  await expect(page.locator('[data-platform="benevity"]')).toContainText('Not configured');
  await shoot(page, '19-integrations');

  await page.locator('[data-platform="benevity"]').getByRole('link', { name: 'Set up' }).click();
  await expect(page).toHaveURL(new RegExp(`/t/${slug}/integrations/benevity$`));
  await hydrated(page);
  await page.getByLabel('Endpoint URL').fill('http://hooks.example.com/atrium');
  await page.getByLabel('Settings (JSON)').fill('{"program_id": "prog-42", "colour": "blue"}');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByText('Use https')).toBeVisible();
  await expect(page.getByText('“colour” is not a Benevity setting')).toBeVisible();

  await page.getByLabel('Endpoint URL').fill(`http://127.0.0.1:${receiver.port}/hook`);
  await page.getByLabel('Settings (JSON)').fill('{"program_id": "prog-42", "currency": "EUR"}');
  await page.getByLabel('New API token').fill('tok_e2e_abcdefgh');
  await page.getByLabel('New signing secret').fill(secret);
  await page.getByLabel(/Enabled/).check();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByText('Saved.', { exact: true })).toBeVisible();
  await expect(page.locator('.card-head').first()).toContainText('Enabled');
  await expect(page.getByText(/last changed/)).toBeVisible();
  expect(await page.content()).not.toContain(secret);

  // A test delivery arrives, signed.
  await page.getByRole('button', { name: 'Send a test delivery' }).click();
  await page.getByRole('link', { name: 'Follow it' }).click();
  await expect(page.locator('[data-delivery-status="success"]')).toBeVisible({ timeout: 20_000 });
  expect(receiver.hits).toHaveLength(1);
  expect(verifies(secret, receiver.hits[0])).toBe(true);
  expect(receiver.hits[0].headers['authorization']).toBe('Bearer tok_e2e_abcdefgh');
  await expect(page.locator('tr[data-attempt="1"]')).toContainText('200');
  await shoot(page, '20-delivery-success');

  // The receiver goes away: the next delivery retries, then fails (3 attempts here).
  await receiver.stop();
  await page.goto(`/t/${slug}/integrations/benevity`);
  await hydrated(page);
  await page.getByRole('button', { name: 'Send a test delivery' }).click();
  await page.getByRole('link', { name: 'Follow it' }).click();
  await expect(page.locator('[data-delivery-status="failed"]')).toBeVisible({ timeout: 30_000 });
  await expect(page.locator('tr[data-attempt]')).toHaveCount(3);
  await expect(page.locator('tr[data-attempt="1"]')).toContainText('could not connect');
  await shoot(page, '21-delivery-failed');
  const failedId = new URL(page.url()).pathname.split('/').pop();

  // The list shows it as failed, with the count to confirm.
  await page.goto(`/t/${slug}/deliveries?status=failed`);
  await expect(page.locator(`tr[data-delivery="${failedId}"]`)).toContainText('Failed');
  await expect(page.getByText('Replay all failed (1)')).toBeVisible();
  await shoot(page, '22-deliveries-failed');

  // Back up, replay: it arrives under the same webhook id.
  await receiver.start(receiver.port);
  await page.goto(`/t/${slug}/deliveries/${failedId}`);
  await hydrated(page);
  const webhookId = await page.locator('dd.mono').nth(1).textContent();
  await page.getByRole('button', { name: 'Replay', exact: true }).click();
  await expect(page.getByText('Queued again, under the same webhook id.')).toBeVisible();
  await expect(page.locator('[data-delivery-status="success"]')).toBeVisible({ timeout: 20_000 });
  expect(receiver.hits).toHaveLength(2);
  expect(receiver.hits[1].headers['webhook-id']).toBe(webhookId);
  expect(verifies(secret, receiver.hits[1])).toBe(true);
  await receiver.stop();
  expect(problems).toEqual([]);
});
