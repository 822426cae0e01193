import { test, expect } from '@playwright/test';
import * as fs from 'fs';
import { shoot, hydrated, signIn, newCompany } from './helpers';

test('filter the audit log, open a row, export it, verify the chain and set retention', async ({ page }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const stamp = Date.now();
  const slug = `audit-${stamp}`;
  await signIn(page);
  await newCompany(page, `Audit ${stamp}`, slug, `/t/${slug}/weights/sroi`);
  await hydrated(page);
  // Something worth auditing: a weight change with its reason.
  await page.getByLabel('Value of a volunteer hour').fill('35.5');
  await page.getByLabel('Reason for the change').fill('Annual rate review');
  await page.getByRole('button', { name: 'Save weights' }).click();
  await expect(page.getByText('Saved. The change and its reason are in the history.')).toBeVisible();

  await page.getByRole('link', { name: 'Audit log' }).first().click();
  await expect(page).toHaveURL(new RegExp(`/t/${slug}/audit$`));
  await hydrated(page);
  const rows = page.locator('table.audit tbody tr');
  await expect(rows.filter({ hasText: 'weights.update' })).toHaveCount(1);
  await expect(rows.filter({ hasText: 'tenant.act_as' })).toHaveCount(1);

  // Filters go into the URL, so the view can be shared.
  await page.getByLabel('Action').selectOption('weights.update');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=weights\.update/);
  await expect(rows).toHaveCount(1);

  // A row opens its detail panel: the diff, the request's facts and the chain position.
  await rows.first().getByRole('link').click();
  await expect(page).toHaveURL(/entry=\d+/);
  const panel = page.locator('aside.audit-detail');
  await expect(panel.getByRole('heading', { name: 'weights.update' })).toBeVisible();
  await expect(panel.locator('ins').filter({ hasText: '35.5' })).toBeVisible();
  await expect(panel.getByText('Request id')).toBeVisible();
  await expect(panel.getByText(/^#\d+ · [0-9a-f]{64}$/)).toBeVisible();
  await shoot(page, '23-audit-detail');

  // Export downloads exactly the filtered rows.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Export CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(new RegExp(`^audit-${slug}-\\d{8}-\\d{6}\\.csv$`));
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split('\r\n');
  expect(csv[0]).toContain('id,timestamp,company,actor_email');
  expect(csv).toHaveLength(2);
  expect(csv[1]).toContain('weights.update');

  // The chain checks out.
  await page.getByRole('button', { name: 'Verify integrity' }).click();
  await expect(page.locator('.chain-reports li')).toContainText(/Intact.*intact, \d+ rows/);

  // Retention: a year, and a legal hold with its reason.
  await page.goto(`/t/${slug}/audit`);
  await hydrated(page);
  await page.getByLabel('Keep audit rows for').selectOption('365');
  await page.getByLabel(/Legal hold/).check();
  await page.getByRole('button', { name: 'Save retention' }).click();
  await expect(page.getByText('Say why the hold is on')).toBeVisible();
  await page.getByLabel('Reason for the hold').fill('Matter 2026-118');
  await page.getByRole('button', { name: 'Save retention' }).click();
  await expect(page.getByText('Saved.', { exact: true })).toBeVisible();
  await expect(page.getByText(/a legal hold is on, so nothing is deleted: Matter 2026-118/)).toBeVisible();
  await shoot(page, '24-audit-log');

  // The company's own History tab lists its records' rows, the retention change among them.
  await page.goto(`/t/${slug}/`);
  await page.getByRole('link', { name: 'History' }).click();
  await expect(page).toHaveURL(new RegExp(`/t/${slug}/\\?tab=history$`));
  await expect(page.locator('table.audit tbody tr').filter({ hasText: 'audit.retention_update' })).toHaveCount(1);
  await shoot(page, '25-company-history');

  // Across companies, the super-admin filters by company.
  await page.goto(`/admin/audit?company=${slug}`);
  await expect(page.locator('table.audit thead')).toContainText('Company');
  await expect(page.locator('table.audit tbody tr').first()).toContainText(`Audit ${stamp}`);
  await shoot(page, '26-admin-audit');
  expect(problems).toEqual([]);
});
