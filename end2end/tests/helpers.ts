import { expect, Page } from '@playwright/test';
import * as fs from 'fs';

/** The super-admin that .dev/test creates for the browser tests. */
export const email = process.env.ATRIUM_E2E_EMAIL ?? 'e2e@atrium.test';
export const password = process.env.ATRIUM_E2E_PASSWORD ?? 'e2e password 123';

const shots = 'screenshots';
fs.mkdirSync(shots, { recursive: true });

/** Screenshots of the current page in the light and the dark theme. */
export async function shoot(page: Page, name: string) {
  await page.emulateMedia({ colorScheme: 'light' });
  await page.screenshot({ path: `${shots}/${name}-light.png`, fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: `${shots}/${name}-dark.png`, fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Waits until the wasm has hydrated the page (a broken wasm still server-renders fine). */
export async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

/** Signs in as the e2e super-admin, who lands on /admin. */
export async function signIn(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/admin$/);
}

/** Creates a company as the super-admin and opens it (with a reason) at `first`. */
export async function newCompany(page: Page, name: string, slug: string, first: string) {
  await page.goto('/admin/companies/new');
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Create company' }).click();
  await expect(page).toHaveURL(/\/admin\/companies\/[0-9a-f-]{36}$/);
  await page.goto(first);
  await page.getByLabel('Reason').fill('Setting up the customer during onboarding');
  await page.getByRole('button', { name: 'Open company' }).click();
}

/** The messages the test SMTP server (end2end/servers/mail-sink.mjs) received, newest last. */
export async function mails(page: Page): Promise<any[]> {
  const sink = process.env.ATRIUM_MAIL_SINK_URL;
  if (!sink) throw new Error('ATRIUM_MAIL_SINK_URL is not set: .dev/test starts the mail sink');
  const r = await page.request.get(`${sink}/messages`);
  expect(r.ok()).toBeTruthy();
  return r.json();
}

/** How many mails `to` has received so far whose subject matches. */
export async function mailCount(page: Page, to: string, subject: RegExp): Promise<number> {
  return (await mails(page)).filter((m) => m.envelope.to.includes(to) && subject.test(m.subject)).length;
}

/** The one-time link in the newest mail to `to` whose subject matches, once more than
 *  `before` mails matching it have arrived (so an earlier mail is never taken for a new one). */
export async function mailedLink(page: Page, to: string, subject: RegExp, before = 0): Promise<string> {
  let link = '';
  await expect(async () => {
    const found = (await mails(page)).filter((m) => m.envelope.to.includes(to) && subject.test(m.subject));
    expect(found.length).toBeGreaterThan(before);
    const text: string = found[found.length - 1].text;
    const m = text.match(/https?:\/\/\S+\/invite\/[0-9a-f]{64}/);
    expect(m).not.toBeNull();
    link = m![0];
  }).toPass({ timeout: 15_000 });
  return link;
}
