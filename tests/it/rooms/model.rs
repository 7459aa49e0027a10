//! Random moves and chat, checked line by line against a model of who is where.
//!
//! Eight users (and a ninth who only listens) join three rooms (typed in any
//! case, with or without `#`), part (also as `/join chatd`), chat, act (`/me`),
//! ask `/who` and `/rooms`, quit and sign in again, for 1500 random steps from
//! each of two fixed seeds. The model predicts every line each connection
//! gets, history replays included, and each connection's lines are compared
//! with it exactly.
//!
//! The server handles each connection's lines in order, but lines from two
//! connections race. The driver lets them race only where it can tell the
//! outcome:
//! - in each room at most one user at a time may have sent lines not yet known
//!   to be handled (it is "dirty" there: chat, or a move not waited for, is
//!   sent without waiting). Before anyone else acts in that room, the dirty
//!   user is acked: it sends an unknown command and waits for the answer, which
//!   comes after everything its earlier lines did. Questions about every room
//!   (`/rooms`, signing in) ack every room first;
//! - two moves may be sent at once, through a room and on (or back): both in
//!   one round, a room may empty and be made again in it;
//! - a race step sends one user's chat and another's move (or quit) in the same
//!   room at once, everything else settled. The server takes some number `k`
//!   of the chat lines before the move and the rest after; the mover's own
//!   lines say which `k` (the chat it still got before leaving, or the history
//!   it got on arriving), and the model then applies the lines in that order.
//!
//! So the model applies every event in the order the server handled it, and
//! predicts every connection's lines exactly. The moves that land in the
//! middle of a round, with lines said in the old or new room not yet flushed,
//! test the per-room catch-up in `src/room/round.rs`; a noise connection that
//! never signs in keeps the server's queue busy in one run, so that its rounds
//! run longer.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use chatd::test_rng::Rng;

use super::noise::Noise;
use crate::common::{TIMEOUT, chatd, replayed_text, spawn_line_reader};

/// In name order, which the server's lists use (ignoring case). The last
/// signs in first and then only listens, in the lobby; two others ignore it,
/// so that what reaches them is made for each of them alone (the members for
/// whom a round is cut to measure), though it shows no difference.
const USERS: [&str; 9] = ["ann", "Bob", "cy", "Dee", "eve", "Flo", "gus", "Hal", "zed"];
const ACTIVE: usize = USERS.len() - 1;
const LISTENER: usize = ACTIVE;
const IGNORING: [usize; 2] = [0, 2];
const ROOMS: [&str; 3] = ["tea", "chess", "go"];
const HISTORY: usize = 3;
const LOBBY: usize = 0;
const SYNC: &str = "! unknown command \"/sync\", type /help for the list";

#[test]
fn random_moves_and_chat_match_the_model() {
    run(0x5eed_0015_0001, 1500, true);
}

#[test]
fn random_moves_and_chat_match_the_model_in_short_rounds() {
    run(0x5eed_0015_0002, 1500, false);
}

/// A line a connection should get.
#[derive(Debug)]
enum Want {
    Exact(String),
    /// A history line, after the time it was said.
    Replayed(String),
}

impl Want {
    fn matches(&self, got: &str) -> bool {
        match self {
            Want::Exact(line) => got == line,
            Want::Replayed(line) => replayed_text(got) == Some(line),
        }
    }
}

/// One connection of one user.
struct Conn {
    user: usize,
    writer: TcpStream,
    lines: Receiver<String>,
    want: Vec<Want>,
    got: Vec<String>,
    /// Lines of `got` compared with `want` so far.
    checked: usize,
    /// It quit: after its last line comes the end of the connection.
    quit: bool,
}

/// The lobby (place 0) or a room (1 to 3).
#[derive(Default)]
struct Place {
    /// A room's name as made (None while the room does not exist).
    name: Option<String>,
    members: BTreeSet<usize>,
    /// The last lines said, each with its place among every line said here.
    history: VecDeque<(usize, String)>,
    /// How many lines were said here.
    said: usize,
}

/// How the lobby's lines count: `here` of `online` (the server's wording).
fn lobby_count(here: usize, online: usize) -> String {
    if here == online {
        format!("{here} online")
    } else {
        format!("{here} here, {online} online")
    }
}

struct Model {
    addr: SocketAddr,
    rng: Rng,
    seed: u64,
    conns: Vec<Conn>,
    conn_of: [Option<usize>; USERS.len()],
    place_of: [usize; USERS.len()],
    /// Per user, how many lines the lobby had said when they last left it.
    lobby_seen: [usize; USERS.len()],
    places: [Place; 4],
    /// Per place, the user whose lines there may not be handled yet.
    dirty: [Option<usize>; 4],
    counter: usize,
    steps: Vec<String>,
}

fn run(seed: u64, steps: usize, noise: bool) {
    let server = chatd().config(&format!("history = {HISTORY}")).start();
    let _noise = noise.then(|| Noise::start(server.addr));
    let mut model = Model {
        addr: server.addr,
        rng: Rng(seed),
        seed,
        conns: Vec::new(),
        conn_of: [None; USERS.len()],
        place_of: [LOBBY; USERS.len()],
        lobby_seen: [0; USERS.len()],
        places: Default::default(),
        dirty: [None; 4],
        counter: 0,
        steps: Vec::new(),
    };
    model.sign_in(LISTENER);
    for user in 0..ACTIVE {
        model.sign_in(user);
    }
    for _ in 0..steps {
        model.step();
    }
    model.finish();
}

impl Model {
    fn step(&mut self) {
        let user = self.rng.below(ACTIVE);
        if self.conn_of[user].is_none() {
            return self.sign_in(user);
        }
        let other = self.rng.below(ACTIVE);
        match self.rng.below(100) {
            0..30 => self.chat(user),
            30..50 => {
                let room = 1 + self.rng.below(ROOMS.len());
                self.join(user, room);
            }
            50..57 => self.join(user, LOBBY),
            57..62 => self.who(user),
            62..64 => self.rooms(user),
            64..68 => self.quit(user),
            68..76 => self.double_move(user),
            _ if other != user && self.conn_of[other].is_some() => self.race(other, user),
            _ => self.chat(user),
        }
    }

    // ---- what the server says ----

    fn names(&self, place: usize) -> String {
        let names: Vec<&str> = self.places[place]
            .members
            .iter()
            .map(|&u| USERS[u])
            .collect();
        names.join(", ")
    }

    /// `#tea`, or the lobby in words.
    fn where_is(&self, place: usize) -> String {
        match (place, &self.places[place].name) {
            (LOBBY, _) => "the lobby".to_owned(),
            (_, Some(name)) => format!("#{name}"),
            (_, None) => unreachable!("a room that does not exist"),
        }
    }

    /// A random line for `user` to say: what it types and what others see.
    fn line_of(&mut self, user: usize) -> (String, String) {
        self.counter += 1;
        let text = format!("t{} #x", self.counter);
        let nick = USERS[user];
        if self.rng.below(4) == 0 {
            (format!("/me {text}"), format!("* {nick} {text}"))
        } else {
            (text.clone(), format!("> {nick}: {text}"))
        }
    }

    /// The line that takes one to `to`, and the room's name in it.
    fn command_to(&mut self, to: usize) -> (String, String) {
        if to == LOBBY {
            let line = *self.rng.pick(&["/part", "/join chatd", "/join #CHATD"]);
            return (line.to_owned(), String::new());
        }
        let name: String = ROOMS[to - 1]
            .chars()
            .map(|c| match self.rng.below(3) {
                0 => c.to_ascii_uppercase(),
                _ => c,
            })
            .collect();
        let hash = if self.rng.below(2) == 0 { "#" } else { "" };
        (format!("/join {hash}{name}"), name)
    }

    // ---- the model's events, in the order the server handles them ----

    fn expect(&mut self, user: usize, want: Want) {
        let conn = self.conn_of[user].expect("an online user");
        self.conns[conn].want.push(want);
    }

    /// Every member of `place` but `except` gets `line`.
    fn tell(&mut self, place: usize, except: Option<usize>, line: &str) {
        let members: Vec<usize> = self.places[place].members.iter().copied().collect();
        for member in members.into_iter().filter(|&m| Some(m) != except) {
            self.expect(member, Want::Exact(line.to_owned()));
        }
    }

    /// `user` said `shown` in its room.
    fn said(&mut self, user: usize, shown: &str) {
        let place = self.place_of[user];
        self.tell(place, Some(user), shown);
        let place = &mut self.places[place];
        if place.history.len() == HISTORY {
            place.history.pop_front();
        }
        place.history.push_back((place.said, shown.to_owned()));
        place.said += 1;
    }

    /// What someone coming into `place` gets after the list: its history; back
    /// in the lobby (`back`), only what it said since they left.
    fn arrival(&mut self, user: usize, place: usize, back: bool) {
        let since = if back { self.lobby_seen[user] } else { 0 };
        let history: Vec<String> = self.places[place]
            .history
            .iter()
            .filter(|(seq, _)| *seq >= since)
            .map(|(_, line)| line.clone())
            .collect();
        match (history.len(), back) {
            (0, _) => return,
            (1, false) => self.expect(user, Want::Exact("* Last message:".to_owned())),
            (n, false) => self.expect(user, Want::Exact(format!("* Last {n} messages:"))),
            (1, true) => self.expect(
                user,
                Want::Exact("* 1 message while you were away:".to_owned()),
            ),
            (n, true) => self.expect(
                user,
                Want::Exact(format!("* {n} messages while you were away:")),
            ),
        }
        for line in history {
            self.expect(user, Want::Replayed(line));
        }
    }

    /// Takes `user` out of its place: a room left empty is gone; otherwise the
    /// others get `told(self, how many are left)`.
    fn leave(&mut self, user: usize, told: impl Fn(&Model, usize) -> String) {
        let place = self.place_of[user];
        self.places[place].members.remove(&user);
        let here = self.places[place].members.len();
        if place != LOBBY && here == 0 {
            self.places[place] = Place::default();
        } else {
            let line = told(self, here);
            self.tell(place, None, &line);
        }
    }

    /// `user` went to `to`, which, made now, is called `name`.
    fn moved(&mut self, user: usize, to: usize, name: &str) {
        let (nick, from) = (USERS[user], self.place_of[user]);
        let made = to != LOBBY && self.places[to].name.is_none();
        if made {
            self.places[to].name = Some(name.to_owned());
        }
        let dest = self.where_is(to);
        // Named before the room can go with its last member.
        let origin = self.where_is(from);
        if from == LOBBY {
            self.lobby_seen[user] = self.places[LOBBY].said;
        }
        // The mover, in no place for now, is still online.
        self.leave(user, |model, here| match from {
            LOBBY => format!(
                "* {nick} left for {dest} ({})",
                lobby_count(here, model.online() + 1)
            ),
            _ => format!(
                "* {nick} left {} for {dest} ({here} here)",
                model.where_is(from)
            ),
        });
        self.places[to].members.insert(user);
        self.place_of[user] = to;
        let (here, names) = (self.places[to].members.len(), self.names(to));
        let (now_in, joined) = match to {
            LOBBY => (
                format!("* You are back in the lobby ({here}): {names}"),
                format!(
                    "* {nick} came back from {origin} ({}: {names})",
                    lobby_count(here, self.online())
                ),
            ),
            _ if made => (
                format!("* You are now in {dest}, a new room: /topic TEXT gives it a topic"),
                String::new(), // to nobody: there is nobody else
            ),
            _ => (
                format!("* You are now in {dest} ({here}): {names}"),
                format!("* {nick} joined {dest} ({here} here: {names})"),
            ),
        };
        self.expect(user, Want::Exact(now_in));
        self.arrival(user, to, to == LOBBY);
        if !made {
            self.tell(to, Some(user), &joined);
        }
    }

    fn quitted(&mut self, user: usize, why: &str) {
        let nick = USERS[user];
        let place = self.place_of[user];
        self.expect(user, Want::Exact(format!("* Bye, {nick}!")));
        let conn = self.conn_of[user].take().expect("an online user");
        self.conns[conn].quit = true;
        // Its "Bye" is waited for: all it sent has been handled by then.
        for dirty in &mut self.dirty {
            if *dirty == Some(user) {
                *dirty = None;
            }
        }
        self.leave(user, |model, here| match place {
            LOBBY => format!(
                "* {nick} left ({why}; {})",
                lobby_count(here, model.online())
            ),
            _ => format!(
                "* {nick} left {} ({why}; {here} here)",
                model.where_is(place)
            ),
        });
    }

    // ---- talking to the server ----

    fn send(&mut self, user: usize, lines: &str) {
        let conn = self.conn_of[user].expect("an online user");
        let writer = &mut self.conns[conn].writer;
        writer.write_all(lines.as_bytes()).expect("send");
    }

    /// The next line on `conn`, kept in its `got` to be checked.
    fn pull(&mut self, conn: usize) -> String {
        match self.conns[conn].lines.recv_timeout(TIMEOUT) {
            Ok(line) => {
                self.conns[conn].got.push(line.clone());
                line
            }
            Err(RecvTimeoutError::Timeout) => self.fail(conn, "no line in time"),
            Err(RecvTimeoutError::Disconnected) => self.fail(conn, "closed early"),
        }
    }

    /// Reads `conn` up to what it should have got by now, and compares.
    fn sync(&mut self, conn: usize) {
        while self.conns[conn].got.len() < self.conns[conn].want.len() {
            self.pull(conn);
        }
        let c = &self.conns[conn];
        let (wanted, got) = (c.want.len(), c.got.len());
        if let Some(bad) = (c.checked..wanted).find(|&i| !c.want[i].matches(&c.got[i])) {
            self.conns[conn].checked = bad;
            self.fail(conn, "a line other than the model's");
        }
        self.conns[conn].checked = wanted;
        if got > wanted {
            self.fail(conn, "more lines than the model has");
        }
    }

    /// Waits for `user`'s lines so far: all it sent has been handled.
    fn sync_user(&mut self, user: usize) {
        let conn = self.conn_of[user].expect("an online user");
        self.sync(conn);
        for dirty in &mut self.dirty {
            if *dirty == Some(user) {
                *dirty = None;
            }
        }
    }

    fn fail(&self, conn: usize, what: &str) -> ! {
        let c = &self.conns[conn];
        let from = c.checked.saturating_sub(10);
        let steps = &self.steps[self.steps.len().saturating_sub(16)..];
        panic!(
            "seed {:#x}, connection {conn} of {}: {what} at line {}\n\
             wanted (from line {from}):\n{:#?}\ngot:\n{:#?}\nlast steps:\n{}",
            self.seed,
            USERS[c.user],
            c.checked,
            &c.want[from.min(c.want.len())..(c.checked + 3).min(c.want.len())],
            &c.got[from.min(c.got.len())..],
            steps.join("\n")
        );
    }

    /// Acks the dirty user of `place`, unless that is `except`.
    fn settle(&mut self, place: usize, except: Option<usize>) {
        if let Some(dirty) = self.dirty[place]
            && Some(dirty) != except
        {
            self.counter += 1;
            let ack = format!("/ack{}", self.counter);
            self.send(dirty, &format!("{ack}\n"));
            let answer = format!("! unknown command \"{ack}\", type /help for the list");
            self.expect(dirty, Want::Exact(answer));
            self.sync_user(dirty);
        }
    }

    fn settle_all(&mut self, except: Option<usize>) {
        for place in 0..self.places.len() {
            self.settle(place, except);
        }
    }

    /// `user` types `line`, whose answer (to it alone) is `answer`.
    fn ask(&mut self, user: usize, line: &str, answer: Vec<String>) {
        self.steps.push(format!("{} types {line:?}", USERS[user]));
        self.settle(self.place_of[user], Some(user));
        self.send(user, &format!("{line}\n"));
        for line in answer {
            self.expect(user, Want::Exact(line));
        }
        self.sync_user(user);
    }

    // ---- the steps ----

    fn chat(&mut self, user: usize) {
        let place = self.place_of[user];
        self.settle(place, Some(user));
        for _ in 0..1 + self.rng.below(3) {
            let (typed, shown) = self.line_of(user);
            self.steps.push(format!("{} says {typed:?}", USERS[user]));
            self.send(user, &format!("{typed}\n"));
            self.said(user, &shown);
        }
        self.dirty[place] = Some(user);
    }

    /// `user` goes to `to` (or is told it is there already), and now and then
    /// waits for it.
    fn join(&mut self, user: usize, to: usize) {
        if self.place_of[user] != to {
            let wait = self.rng.below(2) == 0;
            return self.go(user, to, wait);
        }
        let (line, _) = self.command_to(to);
        let already = match to {
            LOBBY => "! you are in the lobby already".to_owned(),
            _ => format!("! you are in {} already", self.where_is(to)),
        };
        self.ask(user, &line, vec![already]);
    }

    /// `user` goes from where it is to `to`; without `wait`, it is dirty in
    /// both places until acked.
    fn go(&mut self, user: usize, to: usize, wait: bool) {
        let from = self.place_of[user];
        self.settle(from, Some(user));
        self.settle(to, Some(user));
        let (line, name) = self.command_to(to);
        self.steps
            .push(format!("{} types {line:?} in {from}", USERS[user]));
        self.send(user, &format!("{line}\n"));
        self.moved(user, to, &name);
        if wait {
            self.sync_user(user);
        } else {
            self.dirty[from] = Some(user);
            self.dirty[to] = Some(user);
        }
    }

    /// Two moves sent at once: through a place and on (perhaps back).
    fn double_move(&mut self, user: usize) {
        let from = self.place_of[user];
        let through = (from + 1 + self.rng.below(3)) % 4;
        let to = (through + 1 + self.rng.below(3)) % 4;
        for place in [from, through, to] {
            self.settle(place, Some(user));
        }
        self.go(user, through, false);
        self.go(user, to, true);
    }

    /// How many users are signed in: every place's members.
    fn online(&self) -> usize {
        self.places.iter().map(|place| place.members.len()).sum()
    }

    fn who(&mut self, user: usize) {
        let place = self.place_of[user];
        let (here, names) = (self.places[place].members.len(), self.names(place));
        let answer = match place {
            LOBBY if here == self.online() => format!("* Online ({here}): {names}"),
            LOBBY => format!(
                "* In the lobby ({here} of {} online): {names}",
                self.online()
            ),
            _ => format!("* In {} ({here}): {names}", self.where_is(place)),
        };
        self.ask(user, "/who", vec![answer]);
    }

    fn rooms(&mut self, user: usize) {
        self.settle_all(Some(user));
        let mut rooms: Vec<(usize, &str)> = self.places[1..]
            .iter()
            .filter_map(|p| Some((p.members.len(), p.name.as_deref()?)))
            .collect();
        rooms.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let mut answer = vec![
            format!("* Rooms ({}):", rooms.len() + 1),
            format!(
                "*   chatd, the lobby ({})",
                self.places[LOBBY].members.len()
            ),
        ];
        answer.extend(rooms.iter().map(|(n, name)| format!("*   #{name} ({n})")));
        self.ask(user, "/rooms", answer);
    }

    fn quit(&mut self, user: usize) {
        let (line, why) = *self
            .rng
            .pick(&[("/quit", "quit"), ("/quit bye now", "quit: bye now")]);
        self.steps.push(format!("{} types {line:?}", USERS[user]));
        // Everywhere, not only in its place: the lobby's lines count everyone
        // online, so a quit must not overtake a move elsewhere.
        self.settle_all(Some(user));
        self.send(user, &format!("{line}\n"));
        let conn = self.conn_of[user].expect("an online user");
        self.quitted(user, why);
        self.sync(conn);
    }

    /// `chatter` says a few lines in its room while `mover` comes into that
    /// room, or leaves it (or quits), at the same moment.
    fn race(&mut self, chatter: usize, mover: usize) {
        let room = self.place_of[chatter];
        let from = self.place_of[mover];
        let quit = from == room && self.rng.below(5) == 0;
        let to = match from == room {
            true => (from + 1 + self.rng.below(3)) % 4,
            false => room,
        };
        self.settle_all(None);
        let conn = self.conn_of[mover].expect("an online user");
        self.sync(conn);
        let lines: Vec<(String, String)> = (0..1 + self.rng.below(4))
            .map(|_| self.line_of(chatter))
            .collect();
        let typed: Vec<&str> = lines.iter().map(|(typed, _)| typed.as_str()).collect();
        let (line, name) = match quit {
            true => ("/quit".to_owned(), String::new()),
            false => self.command_to(to),
        };
        self.steps.push(format!(
            "{} says {typed:?} as {} types {line:?}",
            USERS[chatter], USERS[mover]
        ));
        // The mover's line goes out between two of the chatter's (each its own
        // segment), so that the server may take it anywhere among them.
        let at = self.rng.below(lines.len() + 1);
        for (i, (typed, _)) in lines.iter().enumerate() {
            if i == at {
                self.send(mover, &format!("{line}\n"));
            }
            self.send(chatter, &format!("{typed}\n"));
        }
        if at == lines.len() {
            self.send(mover, &format!("{line}\n"));
        }
        let shown: Vec<&str> = lines.iter().map(|(_, shown)| shown.as_str()).collect();
        let before = match from == room {
            true => self.lines_before_leaving(conn, shown.len()),
            false => self.lines_before_coming(conn, &shown),
        };
        for line in &shown[..before] {
            self.said(chatter, line);
        }
        if quit {
            self.quitted(mover, "quit");
        } else {
            self.moved(mover, to, &name);
        }
        for line in &shown[before..] {
            self.said(chatter, line);
        }
        self.sync(conn);
        if !quit {
            self.sync_user(mover);
        }
        self.dirty[room] = Some(chatter);
    }

    /// How many of the `count` racing lines the mover got before it left:
    /// those before its "You are …" or "Bye" line.
    fn lines_before_leaving(&mut self, conn: usize, count: usize) -> usize {
        let start = self.conns[conn].got.len();
        loop {
            let line = self.pull(conn);
            if line.starts_with("* You are ") || line.starts_with("* Bye, ") {
                break;
            }
        }
        (self.conns[conn].got.len() - start - 1).min(count)
    }

    /// How many of the racing lines `shown` were said before the mover came:
    /// the last of them in the history it got (the next line, if there is no
    /// history, is not one).
    fn lines_before_coming(&mut self, conn: usize, shown: &[&str]) -> usize {
        self.pull(conn); // "You are …"
        let header = self.pull(conn);
        let count = match header.as_str() {
            "* Last message:" => 1,
            _ => match header.strip_prefix("* Last ") {
                Some(rest) => rest
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                // Back in the lobby: `* N message(s) while you were away:`.
                None if header.contains(" while you were away:") => header
                    .trim_start_matches("* ")
                    .split(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                None => 0,
            },
        };
        let history: Vec<String> = (0..count).map(|_| self.pull(conn)).collect();
        history
            .iter()
            .rev()
            .find_map(|line| {
                let text = replayed_text(line)?;
                shown.iter().position(|s| *s == text).map(|i| i + 1)
            })
            .unwrap_or(0)
    }

    /// Connects `user` anew and signs it in.
    fn sign_in(&mut self, user: usize) {
        let nick = USERS[user];
        self.steps.push(format!("{nick} signs in"));
        self.settle_all(None);
        let online = self.conn_of.iter().flatten().count();
        let writer = TcpStream::connect_timeout(&self.addr, TIMEOUT).expect("connect");
        writer.set_write_timeout(Some(TIMEOUT)).unwrap();
        writer.set_nodelay(true).expect("TCP_NODELAY");
        let lines = spawn_line_reader(writer.try_clone().expect("clone the stream"));
        self.conns.push(Conn {
            user,
            writer,
            lines,
            want: Vec::new(),
            got: Vec::new(),
            checked: 0,
            quit: false,
        });
        self.conn_of[user] = Some(self.conns.len() - 1);
        self.place_of[user] = LOBBY;
        for line in [
            "> Welcome to chatd".to_owned(),
            format!("> {online} online now"),
            "> Please type your nickname followed by '#' and press Enter".to_owned(),
        ] {
            self.expect(user, Want::Exact(line));
        }
        self.sync_user(user);
        self.send(user, &format!("{nick}#\n"));
        self.places[LOBBY].members.insert(user);
        let (here, names) = (self.places[LOBBY].members.len(), self.names(LOBBY));
        let welcome = match self.online() {
            online if online == here => format!("* Welcome, {nick}! Online ({here}): {names}"),
            online => {
                format!("* Welcome, {nick}! In the lobby ({here} of {online} online): {names}")
            }
        };
        self.expect(user, Want::Exact(welcome));
        self.arrival(user, LOBBY, false);
        let hint = match self.places[1..].iter().filter(|p| p.name.is_some()).count() {
            0 => None,
            1 => Some("* 1 more room: /rooms lists it, /join NAME goes there".to_owned()),
            n => Some(format!(
                "* {n} more rooms: /rooms lists them, /join NAME goes to one"
            )),
        };
        if let Some(hint) = hint {
            self.expect(user, Want::Exact(hint));
        }
        self.tell(
            LOBBY,
            Some(user),
            &format!(
                "* {nick} joined ({}: {names})",
                lobby_count(here, self.online())
            ),
        );
        self.sync_user(user);
        if IGNORING.contains(&user) {
            let listener = USERS[LISTENER];
            let answer = format!("* ignoring {listener} (they are not told)");
            self.ask(user, &format!("/ignore {listener}"), vec![answer]);
        }
    }

    /// Acks everyone, then checks that each connection got exactly what the
    /// model says, those that quit up to their end.
    fn finish(&mut self) {
        self.settle_all(None);
        for user in 0..USERS.len() {
            if self.conn_of[user].is_some() {
                self.ask(user, "/sync", vec![SYNC.to_owned()]);
            }
        }
        for conn in 0..self.conns.len() {
            self.sync(conn);
            let c = &self.conns[conn];
            let extra = match c.quit {
                true => match c.lines.recv_timeout(TIMEOUT) {
                    Err(RecvTimeoutError::Timeout) => self.fail(conn, "not closed after /quit"),
                    end => end.ok(),
                },
                false => c.lines.try_recv().ok(),
            };
            if let Some(line) = extra {
                self.conns[conn].got.push(line);
                self.fail(conn, "a line after the last one the model has");
            }
        }
    }
}
