//! The hub's part of a live upgrade, driven directly: a hub written into
//! the handover state and read back carries on as the one never handed over.

use super::tests::{CLIENTS, Harness, random_event};
use super::*;
use crate::test_rng::Rng;

/// A hub handed over in a live upgrade carries on as the old one would: the
/// same events after the handover give every client byte for byte what the
/// hub that was never handed over gives them, what they had not been sent
/// yet included (rooms, histories, nicknames, comfort, operators, mutes).
#[test]
fn a_hub_handed_over_carries_on_as_the_old_one_would() {
    use crate::input::{Handed, Input};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..40 {
        let mut old = Harness::new();
        let mut twin = Harness::new();
        let before: Vec<Event> = (0..60).map(|_| random_event(&mut rng)).collect();
        for event in &before {
            old.room.handle(event.clone());
            twin.room.handle(event.clone());
            old.room.end_round();
            twin.room.end_round();
        }
        // Some of it read already, some not: both sides the same.
        for i in 0..CLIENTS / 2 {
            assert_eq!(old.read(i), twin.read(i));
        }
        old.ctl("op ann");
        twin.ctl("op ann");
        old.say(1, "/ignore ann");
        twin.say(1, "/ignore ann");
        old.say(2, "/away lunch");
        twin.say(2, "/away lunch");

        // Hand the twin over: each member's socket is a loopback connection.
        let config = Arc::clone(&twin.room.config);
        let mut peers = Vec::new();
        let conns: Vec<(ClientId, Box<Handed>)> = twin
            .room
            .members
            .iter()
            .map(|(id, member)| {
                let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                peers.push(listener.accept().unwrap());
                let handed = Handed {
                    stream: Arc::new(smol::Async::new(stream).unwrap()),
                    outbox: Arc::clone(&member.outbox),
                    input: Input::new(&config),
                };
                (id, Box::new(handed))
            })
            .collect();
        let state = twin.room.encode(&conns);
        let Ok(restored) = restore(
            &state,
            config,
            Arc::default(),
            Bans::in_memory(),
            Disk::in_memory(),
        ) else {
            panic!("the state does not read back");
        };
        let mut outboxes: Vec<_> = (0..CLIENTS).map(|_| Arc::new(Outbox::new())).collect();
        for conn in &restored.conns {
            outboxes[conn.id as usize] = Arc::clone(&conn.outbox);
        }
        let mut new = Harness {
            room: restored.hub,
            outboxes,
        };
        let after: Vec<Event> = (0..60).map(|_| random_event(&mut rng)).collect();
        for event in &after {
            old.room.handle(event.clone());
            new.room.handle(event.clone());
            old.room.end_round();
            new.room.end_round();
        }
        for i in 0..CLIENTS {
            if old.room.members.get(i as ClientId).is_some() {
                assert_eq!(old.read(i), new.read(i), "client {i}");
            }
        }
    }
}
