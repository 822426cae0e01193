//! Attacks on the trust boundary, written the way an attacker would try them: chains of steps
//! that are each allowed on their own. Each one is refused with a clear 4xx and changes nothing.
mod accounts;
mod control_characters;
mod exports;
mod keys;
mod sessions;
mod signin;
mod web;
mod webhooks;
