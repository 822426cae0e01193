import { test, expect } from '@playwright/test';
import { shoot, hydrated, signIn } from './helpers';

// Maintenance mode is one switch for the whole installation: whatever happens here, it is
// switched off again so the other specs can write.
test.afterEach(async ({ page, baseURL }) => {
  await page.request.post('/api/admin/maintenance/set', {
    form: { active: 'false', message: '' },
    headers: { Origin: new URL(baseURL!).origin },
  });
});

test('a super-admin pauses changes: banner everywhere, a save refused with the message, then resumed', async ({ page }) => {
  await signIn(page);
  await page.goto('/admin/maintenance');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Maintenance is off' })).toBeVisible();
  await page.getByLabel('Message for users').fill('Database upgrade, back by 14:30 UTC.');
  await page.getByRole('button', { name: 'Turn maintenance on' }).click();
  await expect(page.getByRole('heading', { name: 'Maintenance is on' })).toBeVisible();
  await page.reload();
  await expect(page.locator('[data-maintenance]')).toContainText('Database upgrade, back by 14:30 UTC.');
  await shoot(page, '30-maintenance-on');

  // A change, through the hydrated form: refused, with the operator's message.
  await page.goto('/admin/companies/new');
  await hydrated(page);
  await expect(page.locator('[data-maintenance]')).toBeVisible();
  await page.getByLabel('Name').fill(`Refused ${Date.now()}`);
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/companies/create'));
  await page.getByRole('button', { name: 'Create company' }).click();
  expect((await answer).status()).toBe(503);
  await expect(page.getByText('Atrium is in maintenance: changes are paused.')).toBeVisible();
  await expect(page).toHaveURL(/\/admin\/companies\/new$/);
  await shoot(page, '31-maintenance-refused');

  await page.goto('/admin/maintenance');
  await hydrated(page);
  await page.getByRole('button', { name: 'Turn maintenance off' }).click();
  await expect(page.getByRole('heading', { name: 'Maintenance is off' })).toBeVisible();
  await page.reload();
  await expect(page.locator('[data-maintenance]')).toHaveCount(0);
});
