import { test, expect, Page } from '@playwright/test';
import { createHmac } from 'crypto';
import { email, password, shoot, hydrated, mails, mailedLink, newCompany } from './helpers';

/** The code an authenticator app shows for a base32 secret, `offset` 30-second steps from now
 *  (RFC 6238 with SHA-1 and 6 digits, written here apart from Atrium's own check). */
function totp(secret: string, offset = 0): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secret.replace(/\s/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + offset));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return ((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).toString().padStart(6, '0');
}

async function signIn(page: Page, who: string, pass: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(who);
  await page.getByLabel('Password').fill(pass);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('mail, a forgotten password, two-factor sign-in and the security overview', async ({ page, browser }) => {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  const stamp = Date.now();
  const slug = `identity-${stamp}`;
  const adminEmail = `owner-${stamp}@e2e.test`;

  // The super-admin creates a company and invites its first admin: the link goes by mail.
  await signIn(page, email, password);
  await expect(page).toHaveURL(/\/admin$/);
  await newCompany(page, `Identity ${stamp}`, slug, `/t/${slug}/users/invite`);
  await hydrated(page);
  await page.getByLabel('Email').fill(adminEmail);
  await page.getByLabel('Role').selectOption('ADMIN');
  await page.getByRole('button', { name: 'Send invitation' }).click();
  await expect(page.getByText(`sent to ${adminEmail} by email`)).toBeVisible();
  await shoot(page, '32-invitation-mailed');
  const invitation = await mailedLink(page, adminEmail, /^You are invited to Identity/);

  // The mail itself, both parts, as the invitee sees it.
  const mail = (await mails(page)).filter((m) => m.envelope.to.includes(adminEmail)).pop();
  expect(mail.text).toContain(invitation);
  expect(mail.html).toContain(`href="${invitation}"`);
  const letter = await browser.newPage();
  await letter.setContent(mail.html);
  await letter.screenshot({ path: 'screenshots/33-invitation-mail.png', fullPage: true });
  await letter.close();

  const owner = await (await browser.newContext()).newPage();
  await owner.goto(invitation);
  await owner.getByLabel('New password').fill('first password for the owner');
  await owner.getByLabel('Repeat the password').fill('first password for the owner');
  await owner.getByRole('button', { name: 'Set password' }).click();
  await expect(owner).toHaveURL(/\/login\?welcome=1$/);

  // Forgot it at once: the recovery link arrives by mail, and the answer tells nothing.
  await owner.getByRole('link', { name: 'Forgot your password?' }).click();
  await expect(owner).toHaveURL(/\/forgot$/);
  await hydrated(owner);
  await shoot(owner, '34-forgot-password');
  await owner.getByLabel('Email').fill(adminEmail);
  await owner.getByRole('button', { name: 'Send the link' }).click();
  await expect(owner.locator('[data-recovery-sent]')).toBeVisible();
  const recovery = await mailedLink(owner, adminEmail, /^Reset your Atrium password$/);
  await owner.goto(recovery);
  await expect(owner.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
  await owner.getByLabel('New password').fill('second password for the owner');
  await owner.getByLabel('Repeat the password').fill('second password for the owner');
  await owner.getByRole('button', { name: 'Set password' }).click();
  await expect(owner).toHaveURL(/\/login\?welcome=1$/);
  await signIn(owner, adminEmail, 'second password for the owner');
  await expect(owner).toHaveURL(new RegExp(`/t/${slug}/$`));

  // Two-factor sign-in: scan (read the key), confirm with a code, keep the recovery codes.
  await owner.goto('/account/two-factor');
  await hydrated(owner);
  await owner.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  await expect(owner.locator('[data-enrolling] svg')).toBeVisible();
  const secret = (await owner.locator('[data-totp-secret]').textContent())!.trim();
  await shoot(owner, '35-two-factor-setup');
  await owner.getByLabel('The 6-digit code it shows').fill('000000');
  await owner.getByRole('button', { name: 'Turn on' }).click();
  await expect(owner.getByText('That code is not right')).toBeVisible();
  await owner.getByLabel('The 6-digit code it shows').fill(totp(secret));
  await owner.getByRole('button', { name: 'Turn on' }).click();
  const codes = owner.locator('[data-recovery-codes] li');
  await expect(codes).toHaveCount(10);
  await shoot(owner, '36-recovery-codes');

  // Signing in now takes the password and then a code.
  const again = await (await browser.newContext()).newPage();
  await signIn(again, adminEmail, 'second password for the owner');
  await expect(again).toHaveURL(/\/login\/two-factor$/);
  await hydrated(again);
  await shoot(again, '37-second-step');
  await again.getByLabel('Code').fill(totp(secret, 1));
  await again.getByRole('button', { name: 'Sign in' }).click();
  await expect(again).toHaveURL(new RegExp(`/t/${slug}/$`));

  // The security overview, and requiring two-factor sign-in of every member.
  await again.goto(`/t/${slug}/security`);
  await hydrated(again);
  await expect(again.locator('.security-line')).toHaveCount(6);
  await again.getByRole('button', { name: 'Require two-factor sign-in' }).click();
  await expect(again.getByText('Saved.')).toBeVisible();
  await expect(again.getByRole('button', { name: 'Stop requiring two-factor sign-in' })).toBeVisible();
  await shoot(again, '38-security-overview');
  // At 375 px it still reads without sideways scrolling (tables scroll in their own box).
  await again.setViewportSize({ width: 375, height: 812 });
  await again.waitForTimeout(200);
  await shoot(again, '39-security-overview-narrow');
  const wide = await again.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((e) => !e.closest('.table-wrap') && e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 5)
      .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`),
  );
  expect(wide, 'elements wider than the screen').toEqual([]);
  await again.goto('/account/two-factor');
  expect(await again.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBeTruthy();

  // The super-admin's summary across companies links to it.
  await page.goto('/admin');
  await expect(page.locator('[data-security-summary]').getByRole('link', { name: `Identity ${stamp}` })).toBeVisible();
  expect(problems).toEqual([]);
});
