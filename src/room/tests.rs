//! The room driven directly: events in, outboxes read back, no sockets.

use super::*;
use crate::test_rng::Rng;
use std::net::{Ipv4Addr, SocketAddr};

const CLIENTS: usize = 6;
const NICKS: [&str; 4] = ["ann", "Bob", "carl", "ANN"];

/// A room and its clients' outboxes, fed events directly (no sockets).
struct Harness {
    room: Room,
    outboxes: Vec<Arc<Outbox>>,
}

impl Harness {
    fn new() -> Self {
        // The room logs every join; thousands of them would bury the test output.
        crate::log::set_level(crate::config::LogLevel::Error);
        let config = Config {
            history: 3,
            // Exact bytes are easier to assert without the colors.
            colors: false,
            ..Config::default()
        };
        let mut harness = Harness {
            room: Room::new(Arc::new(config), Arc::default()),
            outboxes: Vec::new(),
        };
        for i in 0..CLIENTS {
            let outbox = Arc::new(Outbox::new());
            harness.outboxes.push(Arc::clone(&outbox));
            let id = i as ClientId;
            let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000 + i as u16));
            harness.room.handle(Event::Connected { id, peer, outbox });
            harness.room.end_round();
        }
        harness
    }

    /// A room of [`CLIENTS`] connections in which the first ones have signed in
    /// as `nicks`, in order, with everything they were sent so far read.
    fn with_users(nicks: &[&str]) -> Self {
        let mut harness = Harness::new();
        for (i, nick) in nicks.iter().enumerate() {
            harness.say(i, &format!("{nick}#"));
        }
        harness.output();
        harness
    }

    /// Client `i` sends `text`; the round ends.
    fn say(&mut self, i: usize, text: &str) {
        let id = i as ClientId;
        let text = text.to_owned();
        self.room.handle(Event::Line { id, text });
        self.room.end_round();
    }

    /// Everything queued for each client so far.
    fn output(&self) -> Vec<String> {
        self.outboxes
            .iter()
            .map(|outbox| {
                let mut got = Vec::new();
                while let Some(Some(blocks)) =
                    smol::block_on(smol::future::poll_once(outbox.next_blocks()))
                {
                    for block in blocks {
                        got.extend_from_slice(&block);
                        outbox.written(block.len());
                    }
                }
                String::from_utf8(got).unwrap()
            })
            .collect()
    }
}

fn random_event(rng: &mut Rng) -> Event {
    let id = rng.below(CLIENTS) as ClientId;
    let nick = NICKS[rng.below(NICKS.len())];
    // Leaving is rare, so that most cases keep a room to talk in.
    let text = match rng.below(40) {
        0..=5 => nick.to_owned(),
        6..=21 => format!("hello {}", rng.below(100)),
        22..=24 => "/me waves".to_owned(),
        25..=28 => format!("/msg {nick} psst"),
        29..=31 => format!("/nick {nick}"),
        32..=33 => "/who".to_owned(),
        34 => "/quit".to_owned(),
        35..=37 => return Event::TooLong { id },
        _ => {
            let reason = LeaveReason::Closed;
            return Event::Disconnected { id, reason };
        }
    };
    Event::Line { id, text }
}

/// Coalescing a round's broadcasts must not change what anyone receives:
/// the same events, handled in rounds of random length, give every client
/// byte for byte what handling them one at a time gives.
#[test]
fn rounds_deliver_what_single_events_deliver() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut cases_with_chat = 0;
    for case in 0..300 {
        let events: Vec<Event> = (0..80).map(|_| random_event(&mut rng)).collect();

        let mut one_by_one = Harness::new();
        for event in &events {
            one_by_one.room.handle(event.clone());
            one_by_one.room.end_round();
        }

        let mut in_rounds = Harness::new();
        let mut rest = &events[..];
        while !rest.is_empty() {
            let (round, later) = rest.split_at(1 + rng.below(rest.len()));
            for event in round {
                in_rounds.room.handle(event.clone());
            }
            in_rounds.room.end_round();
            rest = later;
        }

        let expected = one_by_one.output();
        // A chat line that reached someone other than its sender.
        let heard = expected
            .iter()
            .filter(|out| out.contains(": hello"))
            .count();
        cases_with_chat += usize::from(heard > 0);
        assert_eq!(in_rounds.output(), expected, "case {case}");
        assert_eq!(
            in_rounds.room.fanout.deliveries, one_by_one.room.fanout.deliveries,
            "case {case}"
        );
    }
    // Otherwise the cases would prove little.
    assert!(
        cases_with_chat > 250,
        "{cases_with_chat} of 300 cases had chat"
    );
}

/// A big round goes out in blocks of about `ROUND_BYTES`, not as one block
/// that could by itself exceed a client's queue bound.
#[test]
fn a_big_round_is_flushed_in_bounded_blocks() {
    let mut harness = Harness::with_users(&["ann", "bob"]);
    let text = "x".repeat(1000);
    let lines = 3 * ROUND_BYTES / text.len();
    for _ in 0..lines {
        let text = text.clone();
        harness.room.handle(Event::Line { id: 0, text });
    }
    harness.room.end_round();
    let bob = &harness.outboxes[1];
    let batch = smol::block_on(bob.next_blocks()).unwrap();
    assert!(batch.len() >= 3, "{} blocks", batch.len());
    let largest = batch.iter().map(|b| b.len()).max().unwrap();
    assert!(
        largest < ROUND_BYTES + 2 * text.len(),
        "block of {largest} bytes"
    );
    let total: usize = batch.iter().map(|b| b.len()).sum();
    assert!(total >= lines * text.len(), "only {total} bytes");
}

/// Commands that need a nickname answer "sign in first" at the prompt, with
/// the prompt again; the connection can still sign in afterwards.
#[test]
fn commands_before_sign_in_ask_for_a_nickname() {
    let mut harness = Harness::new();
    harness.output();
    for line in ["/who", "/me waves", "/msg ann hi", "/me"] {
        harness.say(0, line);
        let name = line[1..].split(' ').next().unwrap();
        assert_eq!(
            harness.output()[0],
            format!(
                "! sign in first to use /{name}\r\n> Please type your nickname followed by '#' and press Enter\r\n"
            ),
            "{line}"
        );
    }
    harness.say(0, "ann#");
    assert!(harness.output()[0].starts_with("* Welcome, ann!"));
}

/// `/nick NEW` at the prompt signs in as NEW, by the same rules as `NEW#`.
#[test]
fn nick_at_the_prompt_signs_in() {
    let mut harness = Harness::with_users(&["ann"]);
    harness.say(1, "/nick ANN");
    assert_eq!(
        harness.output()[1],
        "! nickname \"ANN\" is taken, try another\r\n> Please type your nickname followed by '#' and press Enter\r\n"
    );
    harness.say(1, "/nick b#b");
    assert!(harness.output()[1].starts_with("! nickname may not contain '#'\r\n> Please"));
    harness.say(1, "/nick bob");
    let out = harness.output();
    assert_eq!(out[1], "* Welcome, bob! Online (2): ann, bob\r\n");
    assert_eq!(out[0], "* bob joined (2 online: ann, bob)\r\n");
}

/// `/help` lists what the asker may use: before sign-in only the commands open
/// to everyone.
#[test]
fn help_lists_only_what_the_user_may_use() {
    let mut harness = Harness::with_users(&["ann"]);
    harness.say(1, "/help");
    let before = harness.output()[1].clone();
    assert!(
        before.contains("/quit") && before.contains("/nick"),
        "{before}"
    );
    assert!(
        !before.contains("/who") && !before.contains("/msg"),
        "{before}"
    );
    harness.say(0, "/help");
    let after = harness.output()[0].clone();
    for name in ["/help", "/who", "/nick", "/me", "/msg", "/quit", "//text"] {
        assert!(after.contains(name), "{name} missing from {after}");
    }
}

/// A command's text is sanitized where it is shown, while the nickname of
/// `/msg` and the command name are taken as typed.
#[test]
fn text_is_sanitized_names_are_not() {
    let mut harness = Harness::with_users(&["ann", "bob"]);
    harness.say(0, "/me \x1b[2Jwaves");
    assert_eq!(harness.output()[1], "* ann [2Jwaves\r\n");
    harness.say(0, "/msg b\x1bob hi");
    assert_eq!(harness.output()[0], "! no such user \"bob\"\r\n");
    harness.say(0, "/me \x1b\x07");
    assert_eq!(harness.output()[0], "! usage: /me ACTION\r\n");
}
