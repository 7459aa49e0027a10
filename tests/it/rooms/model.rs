//! Random moves and chat, checked line by line against a model of who is where.
//!
//! Eight users join three rooms (typed in any case, with or without `#`), part
//! (also as `/join chatd`), chat, act (`/me`), ask `/who` and `/rooms`, quit
//! and sign in again, for a few hundred random steps from fixed seeds. The
//! model predicts every line each connection gets, history replays included,
//! and every connection's lines are compared with it exactly.
//!
//! Exact predictions are possible although lines from different connections
//! race, because the driver never lets two connections race where the order
//! matters. The server handles each connection's lines in order; so:
//! - chat is sent without waiting, but in each room at most one user at a time
//!   has lines not yet known to be handled ("dirty"). Before anyone else
//!   speaks, moves, signs in or asks something in that room, the dirty user
//!   is acked: sends an unknown command and waits for the answer, which comes
//!   after everything its lines did;
//! - moves, quits, sign-ins and questions wait for their own answer.
//!
//! Then each room's lines, and each connection's, have one order, the
//! driver's, in which the model appends them. A noise connection that never
//! signs in keeps the server's queue busy, so that its rounds run long and
//! moves, acks and sign-ins land in the middle of rounds whose lines are not
//! yet flushed: the per-room catch-up in `src/room/round.rs`.

use std::collections::{BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;

use chatd::test_rng::Rng;

use crate::common::{TIMEOUT, chatd, replayed_text, spawn_line_reader};

/// In name order, which the server's lists use (ignoring case).
const USERS: [&str; 8] = ["ann", "Bob", "cy", "Dee", "eve", "Flo", "gus", "Hal"];
const ROOMS: [&str; 3] = ["tea", "chess", "go"];
const HISTORY: usize = 3;
const LOBBY: usize = 0;

#[test]
fn random_moves_and_chat_match_the_model() {
    run(0x5eed_0015_0001, 400, true);
}

#[test]
fn random_moves_and_chat_match_the_model_in_short_rounds() {
    run(0x5eed_0015_0002, 250, false);
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
    /// It quit: after its last line comes the end of the connection.
    quit: bool,
}

/// The lobby (place 0) or a room (1 to 3).
#[derive(Default)]
struct Place {
    /// A room's name as made (None while the room does not exist).
    name: Option<String>,
    members: BTreeSet<usize>,
    history: VecDeque<String>,
}

struct Model {
    addr: SocketAddr,
    rng: Rng,
    seed: u64,
    conns: Vec<Conn>,
    conn_of: [Option<usize>; 8],
    place_of: [usize; 8],
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
        conn_of: [None; 8],
        place_of: [LOBBY; 8],
        places: Default::default(),
        dirty: [None; 4],
        counter: 0,
        steps: Vec::new(),
    };
    for user in 0..USERS.len() {
        model.sign_in(user);
    }
    for _ in 0..steps {
        model.step();
    }
    model.finish();
}

impl Model {
    fn step(&mut self) {
        let user = self.rng.below(USERS.len());
        if self.conn_of[user].is_none() {
            return self.sign_in(user);
        }
        match self.rng.below(100) {
            0..45 => self.chat(user),
            45..72 => {
                let room = 1 + self.rng.below(ROOMS.len());
                self.join(user, room);
            }
            72..84 => self.part(user),
            84..89 => self.who(user),
            89..93 => self.rooms(user),
            _ => self.quit(user),
        }
    }

    fn nick(user: usize) -> &'static str {
        USERS[user]
    }

    fn names(&self, place: usize) -> String {
        let names: Vec<&str> = self.places[place]
            .members
            .iter()
            .map(|&u| USERS[u])
            .collect();
        names.join(", ")
    }

    fn room_name(&self, place: usize) -> &str {
        self.places[place]
            .name
            .as_deref()
            .expect("an existing room")
    }

    /// `#tea`, or the lobby in words.
    fn where_is(&self, place: usize) -> String {
        match place {
            LOBBY => "the lobby".to_owned(),
            _ => format!("#{}", self.room_name(place)),
        }
    }

    fn conn(&mut self, user: usize) -> usize {
        self.conn_of[user].expect("an online user")
    }

    fn send(&mut self, user: usize, line: &str) {
        let conn = self.conn(user);
        let writer = &mut self.conns[conn].writer;
        writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }

    fn expect(&mut self, user: usize, want: Want) {
        let conn = self.conn(user);
        self.conns[conn].want.push(want);
    }

    /// Every member of `place` but `except` gets `line`.
    fn tell(&mut self, place: usize, except: Option<usize>, line: &str) {
        let members: Vec<usize> = self.places[place].members.iter().copied().collect();
        for member in members.into_iter().filter(|&m| Some(m) != except) {
            self.expect(member, Want::Exact(line.to_owned()));
        }
    }

    fn remember(&mut self, place: usize, line: String) {
        let history = &mut self.places[place].history;
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(line);
    }

    /// What someone coming into `place` gets after the list: its history.
    fn arrival(&mut self, user: usize, place: usize) {
        let history: Vec<String> = self.places[place].history.iter().cloned().collect();
        match history.len() {
            0 => return,
            1 => self.expect(user, Want::Exact("* Last message:".to_owned())),
            n => self.expect(user, Want::Exact(format!("* Last {n} messages:"))),
        }
        for line in history {
            self.expect(user, Want::Replayed(line));
        }
    }

    /// Reads `user`'s connection up to what it should have got by now.
    fn sync_user(&mut self, user: usize) {
        let conn = self.conn(user);
        self.sync(conn);
        let place = self.place_of[user];
        if self.dirty[place] == Some(user) {
            self.dirty[place] = None;
        }
    }

    fn sync(&mut self, conn: usize) {
        while self.conns[conn].got.len() < self.conns[conn].want.len() {
            match self.conns[conn].lines.recv_timeout(TIMEOUT) {
                Ok(line) => {
                    let c = &mut self.conns[conn];
                    let ok = c.want[c.got.len()].matches(&line);
                    c.got.push(line);
                    if !ok {
                        self.fail(conn, "a line other than the model's");
                    }
                }
                Err(RecvTimeoutError::Timeout) => self.fail(conn, "no line in time"),
                Err(RecvTimeoutError::Disconnected) => self.fail(conn, "closed early"),
            }
        }
    }

    fn fail(&self, conn: usize, what: &str) -> ! {
        let c = &self.conns[conn];
        let from = c.got.len().saturating_sub(12);
        let steps = &self.steps[self.steps.len().saturating_sub(20)..];
        panic!(
            "seed {:#x}, connection {conn} of {}: {what} at line {}\n\
             wanted (from line {from}):\n{:#?}\ngot:\n{:#?}\nlast steps:\n{}",
            self.seed,
            USERS[c.user],
            c.got.len().saturating_sub(1),
            &c.want[from..(c.got.len() + 2).min(c.want.len())],
            &c.got[from..],
            steps.join("\n")
        );
    }

    /// Acks the dirty user of `place`, unless that is `user`.
    fn settle(&mut self, place: usize, user: Option<usize>) {
        if let Some(dirty) = self.dirty[place]
            && Some(dirty) != user
        {
            self.counter += 1;
            let ack = format!("/ack{}", self.counter);
            self.send(dirty, &ack);
            let answer = format!("! unknown command \"{ack}\", type /help for the list");
            self.expect(dirty, Want::Exact(answer));
            self.sync_user(dirty);
        }
    }

    /// `user` types `line`, whose answer (to it alone) is `answer`.
    fn ask(&mut self, user: usize, line: &str, answer: Vec<String>) {
        self.steps.push(format!("{} types {line:?}", USERS[user]));
        self.settle(self.place_of[user], Some(user));
        self.send(user, line);
        for line in answer {
            self.expect(user, Want::Exact(line));
        }
        self.sync_user(user);
    }

    fn chat(&mut self, user: usize) {
        let place = self.place_of[user];
        self.settle(place, Some(user));
        let nick = Self::nick(user);
        for _ in 0..1 + self.rng.below(3) {
            self.counter += 1;
            let text = format!("t{} #x", self.counter);
            let (typed, shown) = if self.rng.below(4) == 0 {
                (format!("/me {text}"), format!("* {nick} {text}"))
            } else {
                (text.clone(), format!("> {nick}: {text}"))
            };
            self.steps.push(format!("{nick} says {typed:?}"));
            self.send(user, &typed);
            self.tell(place, Some(user), &shown);
            self.remember(place, shown);
        }
        self.dirty[place] = Some(user);
    }

    /// `/join` of room `to`, typed in a random case, with or without `#`.
    fn join(&mut self, user: usize, to: usize) {
        let mut typed: String = ROOMS[to - 1]
            .chars()
            .map(|c| match self.rng.below(3) {
                0 => c.to_ascii_uppercase(),
                _ => c,
            })
            .collect();
        if self.rng.below(2) == 0 {
            typed.insert(0, '#');
        }
        if self.place_of[user] == to {
            let already = format!("! you are in #{} already", self.room_name(to));
            return self.ask(user, &format!("/join {typed}"), vec![already]);
        }
        let made = self.places[to].name.is_none();
        if made {
            self.places[to].name = Some(typed.trim_start_matches('#').to_owned());
        }
        self.move_to(user, to, &format!("/join {typed}"), made);
    }

    fn part(&mut self, user: usize) {
        let line = *self.rng.pick(&["/part", "/join chatd", "/join #CHATD"]);
        if self.place_of[user] == LOBBY {
            let already = "! you are in the lobby already".to_owned();
            return self.ask(user, line, vec![already]);
        }
        self.move_to(user, LOBBY, line, false);
    }

    /// `user` goes from where it is to `to` by typing `line`.
    fn move_to(&mut self, user: usize, to: usize, line: &str, made: bool) {
        let nick = Self::nick(user);
        let from = self.place_of[user];
        self.steps
            .push(format!("{nick} goes from {from} to {to}: {line:?}"));
        self.settle(from, Some(user));
        self.settle(to, Some(user));
        self.send(user, line);
        if self.dirty[from] == Some(user) {
            self.dirty[from] = None; // its lines come before the move
        }
        let dest = self.where_is(to);
        self.leave(user, from, |model, here| match from {
            LOBBY => format!("* {nick} left for {dest} ({here} online)"),
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
                format!("* {nick} joined ({here} online: {names})"),
            ),
            _ if made => (
                format!("* You are now in {dest}, a new room: /topic TEXT gives it a topic"),
                String::new(), // to nobody: the room is new
            ),
            _ => (
                format!("* You are now in {dest} ({here}): {names}"),
                format!("* {nick} joined {dest} ({here} here: {names})"),
            ),
        };
        self.expect(user, Want::Exact(now_in));
        self.arrival(user, to);
        if !made {
            self.tell(to, Some(user), &joined);
        }
        self.sync_user(user);
    }

    /// Takes `user` out of `place`: a room left empty is gone; otherwise the
    /// others get `told(self, how many are left)`.
    fn leave(&mut self, user: usize, place: usize, told: impl Fn(&Model, usize) -> String) {
        self.places[place].members.remove(&user);
        let here = self.places[place].members.len();
        if place != LOBBY && here == 0 {
            self.places[place] = Place::default();
        } else {
            let line = told(self, here);
            self.tell(place, None, &line);
        }
    }

    fn who(&mut self, user: usize) {
        let place = self.place_of[user];
        let (here, names) = (self.places[place].members.len(), self.names(place));
        let answer = match place {
            LOBBY => format!("* Online ({here}): {names}"),
            _ => format!("* In {} ({here}): {names}", self.where_is(place)),
        };
        self.ask(user, "/who", vec![answer]);
    }

    fn rooms(&mut self, user: usize) {
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
        let nick = Self::nick(user);
        let place = self.place_of[user];
        self.ask(user, line, vec![format!("* Bye, {nick}!")]);
        let conn = self.conn(user);
        self.conns[conn].quit = true;
        self.conn_of[user] = None;
        self.leave(user, place, |model, here| match place {
            LOBBY => format!("* {nick} left ({why}; {here} online)"),
            _ => format!(
                "* {nick} left {} ({why}; {here} here)",
                model.where_is(place)
            ),
        });
    }

    /// Connects `user` anew and signs it in.
    fn sign_in(&mut self, user: usize) {
        let nick = Self::nick(user);
        self.steps.push(format!("{nick} signs in"));
        self.settle(LOBBY, None);
        let online = self.conn_of.iter().flatten().count();
        let writer = TcpStream::connect_timeout(&self.addr, TIMEOUT).expect("connect");
        writer.set_write_timeout(Some(TIMEOUT)).unwrap();
        let lines = spawn_line_reader(writer.try_clone().expect("clone the stream"));
        self.conns.push(Conn {
            user,
            writer,
            lines,
            want: Vec::new(),
            got: Vec::new(),
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
        self.send(user, &format!("{nick}#"));
        self.places[LOBBY].members.insert(user);
        let (here, names) = (self.places[LOBBY].members.len(), self.names(LOBBY));
        self.expect(
            user,
            Want::Exact(format!("* Welcome, {nick}! Online ({here}): {names}")),
        );
        self.arrival(user, LOBBY);
        let rooms = self.places[1..].iter().filter(|p| p.name.is_some()).count();
        let hint = match rooms {
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
            &format!("* {nick} joined ({here} online: {names})"),
        );
        self.sync_user(user);
    }

    /// Acks everyone, then checks that each connection got exactly what the
    /// model says, those that quit up to their end.
    fn finish(&mut self) {
        for place in 0..self.places.len() {
            self.settle(place, None);
        }
        for user in 0..USERS.len() {
            if self.conn_of[user].is_some() {
                self.ask(
                    user,
                    "/sync",
                    vec!["! unknown command \"/sync\", type /help for the list".to_owned()],
                );
            }
        }
        for conn in 0..self.conns.len() {
            self.sync(conn);
            let c = &self.conns[conn];
            let extra = if c.quit {
                match c.lines.recv_timeout(TIMEOUT) {
                    Err(RecvTimeoutError::Timeout) => self.fail(conn, "not closed after quitting"),
                    end => end.ok(),
                }
            } else {
                c.lines.try_recv().ok()
            };
            if let Some(line) = extra {
                self.conns[conn].got.push(line);
                self.fail(conn, "a line after the last one the model has");
            }
        }
    }
}

/// A connection that never signs in and keeps sending a line the server
/// answers at once (`/x`: a nickname may not start with '/'), with a window of
/// lines in flight, so that the server's queue is rarely empty. Stopped when
/// dropped.
struct Noise {
    stream: TcpStream,
    threads: Vec<JoinHandle<()>>,
}

impl Noise {
    const WINDOW: usize = 64;
    const BATCH: usize = 16;

    fn start(addr: SocketAddr) -> Noise {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(TIMEOUT)).unwrap();
        let (tokens, batches) = mpsc::channel::<()>();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let read = std::thread::spawn(move || {
            let mut prompts = 0;
            // Ends when the connection does; then the writer's channel closes.
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if line.starts_with("> Please type") {
                    prompts += 1;
                    if prompts % Self::BATCH == 0 && tokens.send(()).is_err() {
                        return;
                    }
                }
            }
        });
        let mut writer = stream.try_clone().unwrap();
        let batch = "/x\n".repeat(Self::BATCH);
        let write = std::thread::spawn(move || {
            let mut send = || writer.write_all(batch.as_bytes()).is_ok();
            for _ in 0..Self::WINDOW / Self::BATCH {
                if !send() {
                    return;
                }
            }
            while batches.recv().is_ok() && send() {}
        });
        Noise {
            stream,
            threads: vec![read, write],
        }
    }
}

impl Drop for Noise {
    fn drop(&mut self) {
        // The server may have closed it already; then the threads are ending.
        let _ = self.stream.shutdown(Shutdown::Both);
        for thread in self.threads.drain(..) {
            // A panicked noise thread only means less noise.
            let _ = thread.join();
        }
    }
}
