//! Where a scenario's clients sit: everyone in the lobby (every scenario but
//! `rooms`), or split into rooms they `/join` before the timed phase.
//!
//! The throughput driver treats the lobby as one more group, so a scenario in
//! rooms is timed and counted exactly as one in the lobby: each group's first
//! senders talk, and each of their lines is due to the group's other members.

use std::io;
use std::net::SocketAddr;

use smol::io::AsyncWriteExt;
use smol::net::TcpStream;

use crate::client::{connect, read_until};

/// The most rooms chatd allows (`max_rooms` takes 0 to 1000).
pub const MAX_ROOMS: usize = 1000;

/// Consecutive clients that share a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The room they `/join`; `None`: they stay in the lobby.
    pub room: Option<String>,
    /// How many clients.
    pub clients: usize,
}

/// Splits `clients` into `rooms` rooms of sizes that differ by at most one, or
/// keeps them all in the lobby when `rooms` is 0. Fewer rooms are used when
/// there are not two clients for each, since in a room of one nobody hears a
/// line.
pub fn layout(clients: usize, rooms: usize) -> Vec<Group> {
    if rooms == 0 {
        return vec![Group {
            room: None,
            clients,
        }];
    }
    let rooms = rooms.min(clients / 2).max(1);
    let (each, extra) = (clients / rooms, clients % rooms);
    (0..rooms)
        .map(|r| Group {
            room: Some(format!("r{r}")),
            clients: each + usize::from(r < extra),
        })
        .collect()
}

/// Chat deliveries due when each group's first `senders` members send
/// `lines` lines each: every line reaches the group's other members (and the
/// sender too, when the server `echoes`, as smol's example does).
/// `members` holds how many of each group actually signed in.
pub fn expected(members: &[usize], senders: usize, lines: usize, echoes: bool) -> u64 {
    members
        .iter()
        .map(|&n| {
            let hearers = if echoes { n } else { n.saturating_sub(1) };
            (senders.min(n) * lines) as u64 * hearers as u64
        })
        .sum()
}

/// Moves a signed-in client to `room` and waits for the one line that tells
/// it where it is now: `* You are now in #r7, a new room: …` when it made the
/// room, `* You are now in #r7 (3): …` otherwise. The name is matched with
/// what follows it, so that `#r1` is not taken for `#r10`.
pub async fn join(stream: &mut TcpStream, room: &str) -> io::Result<()> {
    stream
        .write_all(format!("/join {room}\n").as_bytes())
        .await?;
    let made = format!("* You are now in #{room},");
    let entered = format!("* You are now in #{room} (");
    read_until(stream, &[&made, &entered], &format!("the join to #{room}")).await
}

/// Connects (signing in as `nick`, if given) and, given a room, joins it:
/// the client is in its seat when this returns.
pub async fn sign_in(
    addr: SocketAddr,
    nick: Option<String>,
    room: Option<String>,
) -> io::Result<TcpStream> {
    let mut stream = connect(addr, nick).await?;
    if let Some(room) = room {
        join(&mut stream, &room).await?;
    }
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(groups: &[Group]) -> Vec<usize> {
        groups.iter().map(|g| g.clients).collect()
    }

    #[test]
    fn the_lobby_is_one_group_of_everyone() {
        assert_eq!(
            layout(50, 0),
            vec![Group {
                room: None,
                clients: 50
            }]
        );
    }

    #[test]
    fn rooms_split_the_clients_evenly() {
        let groups = layout(5000, 100);
        assert_eq!(groups.len(), 100);
        assert!(groups.iter().all(|g| g.clients == 50));
        assert_eq!(groups[7].room.as_deref(), Some("r7"));
        // The remainder goes one each to the first rooms.
        assert_eq!(sizes(&layout(10, 3)), [4, 3, 3]);
    }

    #[test]
    fn every_room_gets_two_clients_or_there_are_fewer_rooms() {
        assert_eq!(sizes(&layout(7, 100)), [3, 2, 2]);
        assert_eq!(sizes(&layout(1, 100)), [1]);
    }

    #[test]
    fn each_line_is_due_to_the_others_in_its_room() {
        // Two rooms of 50 and one of 3: 2 senders each, 10 lines.
        assert_eq!(expected(&[50, 50, 3], 2, 10, false), 2 * 20 * 49 + 20 * 2);
        // A room of one sender alone is due nothing.
        assert_eq!(expected(&[1], 2, 10, false), 0);
        // The lobby: as the burst scenario always counted it.
        assert_eq!(expected(&[50], 5, 100, false), 5 * 100 * 50 - 5 * 100);
        // A server that echoes: the sender hears its own lines too.
        assert_eq!(expected(&[50], 5, 100, true), 5 * 100 * 50);
    }
}
