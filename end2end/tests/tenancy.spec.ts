import { test, expect, Page, Browser } from '@playwright/test';
import { email, password, shoot, hydrated, mailCount, mailedLink } from './helpers';

async function signIn(page: Page, who: string, pass: string) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(who);
  await page.getByLabel('Password').fill(pass);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Invites `who` from the current company's users page and returns the one-time link, as
 *  the invitee receives it: the test server sends mail, so the admin is told it went out and
 *  the link is read from the mail the SMTP server received. */
async function invite(page: Page, slug: string, who: string, role: string): Promise<string> {
  await page.goto(`/t/${slug}/users`);
  await hydrated(page);
  await page.getByRole('link', { name: 'Invite user' }).click();
  await expect(page).toHaveURL(new RegExp(`/t/${slug}/users/invite$`));
  await hydrated(page);
  await page.getByLabel('Email').fill(who);
  await page.getByLabel('Role').selectOption(role);
  const before = await mailCount(page, who, /on Atrium$/);
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByText(`sent to ${who} by email`)).toBeVisible();
  await expect(page.locator('[data-one-time-link]')).toHaveCount(0);
  const url = await mailedLink(page, who, /on Atrium$/, before);
  expect(url).toMatch(/\/invite\/[0-9a-f]{64}$/);
  return url;
}

/** Follows an invitation link in a fresh browser, sets a password, and signs in. */
async function accept(browser: Browser, link: string, who: string, pass: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(link);
  await expect(page.getByText(`Signing in as ${who}`)).toBeVisible();
  await page.getByLabel('New password').fill(pass);
  await page.getByLabel('Repeat the password').fill(pass);
  await page.getByRole('button', { name: 'Set password' }).click();
  await expect(page).toHaveURL(/\/login\?welcome=1$/);
  await expect(page.getByText('Your password is set')).toBeVisible();
  // The link worked once; it does not work again.
  const again = await page.request.get(link);
  expect(again.status()).toBe(409);
  await page.getByLabel('Email').fill(who);
  await page.getByLabel('Password').fill(pass);
  await page.getByRole('button', { name: 'Sign in' }).click();
  return page;
}

test('invite people, set passwords through the link, and stay inside your own company', async ({ page, browser }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const stamp = Date.now();

  // The super-admin creates two companies and opens the first one, with a reason.
  await signIn(page, email, password);
  await expect(page).toHaveURL(/\/admin$/);
  for (const name of [`Tenant ${stamp}`, `Elsewhere ${stamp}`]) {
    await page.goto('/admin/companies/new');
    await page.getByLabel('Name').fill(name);
    await page.getByRole('button', { name: 'Create company' }).click();
    await expect(page).toHaveURL(/\/admin\/companies\/[0-9a-f-]{36}$/);
  }
  const slug = `tenant-${stamp}`;
  const other = `elsewhere-${stamp}`;
  await page.goto('/admin');
  // The first table lists the companies (the second is their security lines).
  await expect(page.getByRole('cell', { name: new RegExp(`Tenant ${stamp}`) }).first()).toBeVisible();
  await shoot(page, '07-admin-overview');
  await page.goto(`/t/${slug}/users`);
  await page.getByLabel('Reason').fill('Setting up the first admin for the customer');
  await page.getByRole('button', { name: 'Open company' }).click();
  await expect(page.locator('[data-act-as]')).toContainText(`Acting as Tenant ${stamp}`);
  await expect(page.locator('[data-act-as]')).toContainText('Setting up the first admin');
  await shoot(page, '08-act-as-banner');

  const adminEmail = `admin-${stamp}@e2e.test`;
  const adminLink = await invite(page, slug, adminEmail, 'ADMIN');
  await shoot(page, '09-invite-link');

  // The invited admin sets a password through the link and signs in.
  const admin = await accept(browser, adminLink, adminEmail, 'admin password 1234');
  await expect(admin).toHaveURL(new RegExp(`/t/${slug}/$`));
  await expect(admin.getByRole('heading', { name: 'Overview' })).toBeVisible();

  // They invite a viewer, who signs in too.
  const viewerEmail = `viewer-${stamp}@e2e.test`;
  const viewerLink = await invite(admin, slug, viewerEmail, 'VIEWER');
  await admin.goto(`/t/${slug}/users`);
  await expect(admin.getByRole('row').filter({ hasText: viewerEmail })).toContainText('Invited');
  await shoot(admin, '10-users');
  const viewer = await accept(browser, viewerLink, viewerEmail, 'viewer password 1234');
  await expect(viewer).toHaveURL(new RegExp(`/t/${slug}/$`));

  // A viewer finds no edit controls...
  await viewer.goto(`/t/${slug}/users`);
  await hydrated(viewer);
  await expect(viewer.getByRole('link', { name: adminEmail })).toBeVisible();
  await expect(viewer.getByRole('link', { name: 'Invite user' })).toHaveCount(0);
  await viewer.getByRole('link', { name: adminEmail }).click();
  await expect(viewer.locator('[data-read-only]')).toBeVisible();
  await expect(viewer.getByRole('button', { name: 'Save changes' })).toHaveCount(0);
  await expect(viewer.getByRole('button', { name: /Suspend/ })).toHaveCount(0);
  await shoot(viewer, '11-viewer-read-only');
  // ...and is refused when posting the form anyway.
  const origin = new URL(viewer.url()).origin;
  const forced = await viewer.request.post('/api/users/invite', {
    headers: { Origin: origin },
    form: { slug, email: `sneaky-${stamp}@e2e.test`, name: '', role: 'ADMIN' },
  });
  expect(forced.status()).toBe(403);
  const invitePage = await viewer.request.get(`/t/${slug}/users/invite`);
  expect(invitePage.status()).toBe(403);

  // Editing the URL to another company's slug is a 404 that says nothing about it.
  const foreign = await viewer.goto(`/t/${other}/users`);
  expect(foreign?.status()).toBe(404);
  await expect(viewer.getByRole('heading', { name: 'Not found' })).toBeVisible();
  expect(await viewer.content()).not.toContain(`Elsewhere ${stamp}`);
  await shoot(viewer, '12-foreign-404');

  // The roles page explains why.
  await admin.goto(`/t/${slug}/roles`);
  await hydrated(admin);
  await admin.getByLabel('Person').selectOption({ label: viewerEmail });
  await admin.getByLabel('Permission').selectOption('users.write');
  await admin.getByRole('button', { name: 'Explain' }).click();
  await expect(admin.locator('[data-explain]')).toContainText(`No. ${viewerEmail} is Viewer`);
  await shoot(admin, '13-roles');

  // Suspending the viewer signs them out at once.
  await admin.goto(`/t/${slug}/users`);
  await admin.getByRole('link', { name: viewerEmail }).click();
  await hydrated(admin);
  await admin.getByLabel('Yes, sign them out and suspend them').check();
  await admin.getByRole('button', { name: 'Suspend user' }).click();
  await expect(admin.getByText('Saved.')).toBeVisible();
  await expect(admin.locator('.card-head').getByText('Suspended')).toBeVisible();
  await viewer.goto(`/t/${slug}/users`);
  await expect(viewer).toHaveURL(/\/login\?next=/);

  // Another company invites the admin's existing account: nothing is granted until the owner
  // accepts it on their account page.
  await page.goto(`/t/${other}/users`);
  await page.getByLabel('Reason').fill('Inviting a partner admin for the customer');
  await page.getByRole('button', { name: 'Open company' }).click();
  await expect(page.locator('[data-act-as]')).toContainText(`Acting as Elsewhere ${stamp}`);
  const joinLink = await invite(page, other, adminEmail, 'VIEWER');
  const early = await admin.goto(`/t/${other}/`);
  expect(early?.status()).toBe(404);
  // Their account page lists it; accepting takes the link the company sent.
  await admin.goto('/account');
  await hydrated(admin);
  const invitation = admin.locator('[data-invitations]');
  await expect(invitation).toContainText(`Elsewhere ${stamp} invites you as Viewer`);
  await expect(invitation.getByRole('button', { name: 'Accept' })).toHaveCount(0);
  await shoot(admin, '14b-invitation');
  await admin.goto(joinLink);
  await hydrated(admin);
  await expect(admin.getByText(`Elsewhere ${stamp} invites ${adminEmail} as Viewer.`)).toBeVisible();
  await expect(admin.getByLabel('New password')).toHaveCount(0);
  await shoot(admin, '14c-join');
  await admin.locator('[data-join]').getByRole('button', { name: 'Accept' }).click();
  await expect(admin).toHaveURL(/\/account\?joined=1$/);
  await expect(admin.getByText('Done. Your companies are in the switcher.')).toBeVisible();
  await expect(admin.locator('[data-invitations]')).toHaveCount(0);
  const joined = await admin.goto(`/t/${other}/`);
  expect(joined?.status()).toBe(200);

  // Their own account page: sessions listed.
  await admin.goto('/account');
  await expect(admin.getByText('This session')).toBeVisible();
  await shoot(admin, '14-account');

  expect(problems, problems.join('\n')).toEqual([]);
});
