import { test, expect, Page } from '@playwright/test';
import { shoot, hydrated, signIn } from './helpers';

test('create a key, copy it, call the API with it, revoke it, and see the call fail', async ({ page, context }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const stamp = Date.now();
  const slug = `keys-${stamp}`;

  await signIn(page);
  await page.goto('/admin/companies/new');
  await page.getByLabel('Name').fill(`Keys ${stamp}`);
  await page.getByRole('button', { name: 'Create company' }).click();
  await expect(page).toHaveURL(/\/admin\/companies\/[0-9a-f-]{36}$/);
  await page.goto(`/t/${slug}/api-keys`);
  await page.getByLabel('Reason').fill('Issuing the first API key for the customer');
  await page.getByRole('button', { name: 'Open company' }).click();
  await expect(page.getByText('No API keys yet.')).toBeVisible();

  // Create: name, scopes, expiry, limit.
  await hydrated(page);
  await page.getByRole('link', { name: 'Create key' }).click();
  await expect(page).toHaveURL(new RegExp(`/t/${slug}/api-keys/new$`));
  await hydrated(page);
  await page.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByText('Give the key a name')).toBeVisible();
  await page.getByLabel('Name').fill('Reporting robot');
  await page.getByLabel(/read:company/).check();
  await page.getByLabel('Expiry').selectOption('30');
  await page.getByLabel(/Rate limit/).fill('120');
  await page.getByRole('button', { name: 'Create key' }).click();
  const box = page.locator('[data-api-key]');
  await expect(box).toBeVisible();
  const key = await box.inputValue();
  expect(key).toMatch(/^atr_live_[0-9A-Za-z]{49}$/);
  await expect(page.getByText('it will not be shown again')).toBeVisible();
  await page.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByRole('button', { name: 'Copied' })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
  await expect(page.getByRole('button', { name: 'Create key' })).toBeHidden();
  await expect(page.getByRole('link', { name: 'Create another key' })).toBeVisible();
  await shoot(page, '14-api-key-issued');

  // The key opens the REST API.
  const company = await page.request.get('/api/v1/company', { headers: { Authorization: `Bearer ${key}` } });
  expect(company.status()).toBe(200);
  expect((await company.json()).slug).toBe(slug);
  const metrics = await page.request.get('/api/v1/metrics', { headers: { Authorization: `Bearer ${key}` } });
  expect(metrics.status()).toBe(200);

  // Listed with its prefix and last four; the usage shows up after the flush.
  await page.goto(`/t/${slug}/api-keys`);
  const row = page.getByRole('row').filter({ hasText: 'Reporting robot' });
  await expect(row).toContainText(key.slice(0, 13) + '…' + key.slice(-4));
  await expect(row).toContainText('Active');
  await expect(row).toContainText('read:company');
  await expect(page.content()).resolves.not.toContain(key);
  await expect.poll(async () => {
    await page.reload();
    return await page.getByRole('row').filter({ hasText: 'Reporting robot' }).locator('td.num').innerText();
  }, { timeout: 5000 }).toBe('2');
  await shoot(page, '15-api-keys');

  // The key's page: chart, callers; then revoke.
  await row.getByRole('link', { name: 'Reporting robot' }).click();
  await hydrated(page);
  await expect(page.getByRole('img', { name: /Requests per day/ })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'GET /api/v1/company' })).toBeVisible();
  await shoot(page, '16-api-key-detail');
  await page.getByLabel('Yes, revoke this key now').check();
  await page.getByRole('button', { name: 'Revoke key' }).click();
  await expect(page.getByText('Revoked. The key stopped working everywhere at once.')).toBeVisible();
  await expect(page.locator('.card-head').getByText('Revoked')).toBeVisible();

  await expect.poll(async () => {
    const r = await page.request.get('/api/v1/company', { headers: { Authorization: `Bearer ${key}` } });
    return r.status();
  }, { timeout: 2000 }).toBe(401);
  const refused = await page.request.get('/api/v1/company', { headers: { Authorization: `Bearer ${key}` } });
  expect(refused.headers()['content-type']).toBe('application/problem+json');
  expect((await refused.json()).type).toBe('/api/v1/problems/key-revoked');
  expect(problems).toEqual([]);
});
