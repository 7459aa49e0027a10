//! What the server says about commands themselves: `/help` (from the command
//! table, in two columns), usage errors, commands that need a nickname or an
//! operator, and unknown commands; and how wide text is on a terminal, which
//! the columns of `/help` and `chatd ctl who` need.

use crate::command::{Access, COMMANDS, Command, Words};

use super::Texts;

/// The column where `/help` starts each command's description, at the least:
/// a longer usage among the listed commands (an operator's `/ban TARGET
/// [DURATION] [REASON]`) moves it right for the whole list.
const HELP_COLUMN: usize = 19;

/// Columns `text` takes on a terminal, for aligning `/help` and `ctl who`:
/// wide (CJK and fullwidth) characters take two. Exact for the table's own
/// texts and for CJK names; other wide characters (emoji) count as one.
pub fn display_width(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '\u{1100}'..='\u{115f}'
            | '\u{2e80}'..='\u{a4cf}'
            | '\u{ac00}'..='\u{d7a3}'
            | '\u{f900}'..='\u{faff}'
            | '\u{fe30}'..='\u{fe4f}'
            | '\u{ff00}'..='\u{ff60}'
            | '\u{ffe0}'..='\u{ffe6}' => 2,
            _ => 1,
        })
        .sum()
}

impl Texts {
    /// Answer to `/help`: the commands of the table that a user with `access`
    /// may use, each with its usage and help (and its other names), then the
    /// `//` escape, in two columns.
    pub fn help(&self, access: Access) -> String {
        let mut entries: Vec<(String, String)> = COMMANDS
            .iter()
            .filter(|c| c.access <= access)
            .map(|command| {
                let mut help = self.pick(command.help).to_owned();
                if !command.aliases.is_empty() {
                    let aliases: Vec<String> =
                        command.aliases.iter().map(|a| format!("/{a}")).collect();
                    let aliases = aliases.join(", ");
                    help += &if self.zh() {
                        format!("（也可用 {aliases}）")
                    } else {
                        format!(" (also {aliases})")
                    };
                }
                (self.usage_of(command), help)
            })
            .collect();
        entries.push(if self.zh() {
            ("//文字".to_owned(), "发送以 / 开头的文字".to_owned())
        } else {
            (
                "//text".to_owned(),
                "send a line starting with /".to_owned(),
            )
        });
        let column = entries
            .iter()
            .map(|(usage, _)| display_width(usage) + 1)
            .fold(HELP_COLUMN, usize::max);
        let mut out = String::from(if self.zh() {
            "* 命令：\r\n"
        } else {
            "* Commands:\r\n"
        });
        for (usage, help) in entries {
            let pad = column - display_width(&usage);
            out.push_str(&format!("*   {usage}{:pad$}{help}\r\n", ""));
        }
        out
    }

    /// `/name ARGS`, as `/help` and usage errors show a command.
    pub(super) fn usage_of(&self, command: &Command) -> String {
        let args = self.pick(command.usage);
        if args.is_empty() {
            format!("/{}", command.name)
        } else {
            format!("/{} {args}", command.name)
        }
    }

    pub(super) fn pick(&self, words: Words) -> &'static str {
        if self.zh() { words.zh } else { words.en }
    }

    /// A command was given without its arguments.
    pub fn usage(&self, command: &Command) -> String {
        let usage = self.usage_of(command);
        if self.zh() {
            format!("! 用法：{usage}\r\n")
        } else {
            format!("! usage: {usage}\r\n")
        }
    }

    /// A command the user may not use yet: it needs a nickname.
    pub fn sign_in_first(&self, command: &Command) -> String {
        if self.zh() {
            format!(
                "! 请先输入昵称再使用 /{}\r\n{}",
                command.name,
                self.prompt()
            )
        } else {
            format!(
                "! sign in first to use /{}\r\n{}",
                command.name,
                self.prompt()
            )
        }
    }

    /// A command reserved for operators.
    pub fn not_allowed(&self, command: &Command) -> String {
        if self.zh() {
            format!("! 只有管理员可以使用 /{}\r\n", command.name)
        } else {
            format!("! only operators may use /{}\r\n", command.name)
        }
    }

    /// An unknown command.
    pub fn unknown_command(&self, command: &str) -> String {
        if self.zh() {
            format!("! 未知命令 \"/{command}\"，输入 /help 查看命令\r\n")
        } else {
            format!("! unknown command \"/{command}\", type /help for the list\r\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Language;
    use crate::text::{EN, ZH};

    /// `/help` comes from the command table: for a signed-in user it is the
    /// list written out by hand before it, plus `/topic`, the comfort
    /// commands and the other names of a command (`/r`), in two columns.
    #[test]
    fn help_from_the_table_is_the_familiar_list() {
        assert_eq!(
            EN.help(Access::Registered),
            concat!(
                "* Commands:\r\n",
                "*   /help                this help\r\n",
                "*   /who [*]             who is in your room; *: everyone online\r\n",
                "*   /join NAME           go to room NAME (made if new)\r\n",
                "*   /part                back to the lobby\r\n",
                "*   /rooms               the rooms, with members and topics\r\n",
                "*   /nick NEW            change your nickname\r\n",
                "*   /me ACTION           say what you are doing\r\n",
                "*   /msg NICK TEXT       private message\r\n",
                "*   /reply TEXT          answer the last private message (also /r)\r\n",
                "*   /away [MESSAGE]      say you are away\r\n",
                "*   /back                you are back\r\n",
                "*   /ignore [NICK]       hear nothing more from NICK; alone: whom you ignore\r\n",
                "*   /unignore NICK       hear NICK again\r\n",
                "*   /bell [on|off]       ring when a line names you or for a private message\r\n",
                "*   /colors [on|off]     colors for you\r\n",
                "*   /timestamps [on|off] the time before every line\r\n",
                "*   /quit [REASON]       leave the room\r\n",
                "*   /topic [TEXT]        your room's topic (operators, its maker: set it)\r\n",
                "*   //text               send a line starting with /\r\n",
            )
        );
        let zh = ZH;
        assert_eq!(
            zh.help(Access::Registered),
            concat!(
                "* 命令：\r\n",
                "*   /help                显示本帮助\r\n",
                "*   /who [*]             谁在本房间；*：所有在线的人\r\n",
                "*   /join 房间名         进入房间（没有则创建）\r\n",
                "*   /part                回到大厅\r\n",
                "*   /rooms               列出房间、人数和话题\r\n",
                "*   /nick 新昵称         改名\r\n",
                "*   /me 动作             以第三人称说话\r\n",
                "*   /msg 昵称 内容       私聊\r\n",
                "*   /reply 内容          回复最近一条私聊（也可用 /r）\r\n",
                "*   /away [留言]         标记为暂时离开\r\n",
                "*   /back                取消离开\r\n",
                "*   /ignore [昵称]       屏蔽某人；不带参数：列出已屏蔽的人\r\n",
                "*   /unignore 昵称       取消屏蔽\r\n",
                "*   /bell [on|off]       有人提到你或私聊时响铃\r\n",
                "*   /colors [on|off]     为你显示颜色\r\n",
                "*   /timestamps [on|off] 每行前显示时间\r\n",
                "*   /quit [原因]         离开聊天室\r\n",
                "*   /topic [内容]        本房间的话题（管理员或创建者：设置）\r\n",
                "*   //文字               发送以 / 开头的文字\r\n",
            )
        );
    }

    /// An operator's `/help` has longer usages (`/ban TARGET [DURATION]
    /// [REASON]`): the descriptions still start in one column, in both
    /// languages.
    #[test]
    fn help_keeps_its_columns_for_operators() {
        for texts in [EN, ZH] {
            let help = texts.help(Access::Operator);
            assert!(help.contains("/ban "), "{help}");
            let lines: Vec<&str> = help.lines().skip(1).collect();
            let columns: Vec<usize> = COMMANDS
                .iter()
                .filter(|c| c.access <= Access::Operator)
                .zip(&lines)
                .map(|(command, line)| {
                    let at = line.find(texts.pick(command.help)).expect("the help text");
                    display_width(&line[..at])
                })
                .collect();
            assert!(columns.windows(2).all(|w| w[0] == w[1]), "{help}");
            if texts.language == Language::En {
                let longest = "*   /mute TARGET [DURATION] [REASON] ".len();
                assert_eq!(columns[0], longest, "{help}");
            }
        }
    }
}
