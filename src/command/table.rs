//! The [`COMMANDS`] table itself: one [`Command`] entry per command, in `/help` order.

use super::{Access, Command, Id, Params, Words};

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        id: Id::Help,
        name: "help",
        aliases: &[],
        params: Params::None,
        access: Access::Everyone,
        ctl: true,
        usage: Words { en: "", zh: "" },
        help: Words {
            en: "this help",
            zh: "显示本帮助",
        },
    },
    Command {
        id: Id::Who,
        name: "who",
        aliases: &[],
        params: Params::None,
        access: Access::Registered,
        ctl: true,
        usage: Words { en: "", zh: "" },
        help: Words {
            en: "who is online",
            zh: "谁在线",
        },
    },
    Command {
        id: Id::Nick,
        name: "nick",
        aliases: &[],
        params: Params::Value,
        access: Access::Everyone,
        ctl: false,
        usage: Words {
            en: "NEW",
            zh: "新昵称",
        },
        help: Words {
            en: "change your nickname",
            zh: "改名",
        },
    },
    Command {
        id: Id::Me,
        name: "me",
        aliases: &[],
        params: Params::Rest,
        access: Access::Registered,
        ctl: false,
        usage: Words {
            en: "ACTION",
            zh: "动作",
        },
        help: Words {
            en: "say what you are doing",
            zh: "以第三人称说话",
        },
    },
    Command {
        id: Id::Msg,
        name: "msg",
        aliases: &[],
        params: Params::WordRest,
        access: Access::Registered,
        ctl: false,
        usage: Words {
            en: "NICK TEXT",
            zh: "昵称 内容",
        },
        help: Words {
            en: "private message",
            zh: "私聊",
        },
    },
    Command {
        id: Id::Quit,
        name: "quit",
        aliases: &[],
        params: Params::OptValue,
        access: Access::Everyone,
        ctl: false,
        usage: Words {
            en: "[REASON]",
            zh: "[原因]",
        },
        help: Words {
            en: "leave the room",
            zh: "离开聊天室",
        },
    },
    Command {
        id: Id::Topic,
        name: "topic",
        aliases: &[],
        params: Params::OptValue,
        access: Access::Registered,
        ctl: false,
        usage: Words {
            en: "[TEXT]",
            zh: "[内容]",
        },
        help: Words {
            en: "show the topic (operators: set it)",
            zh: "查看话题（管理员：设置话题）",
        },
    },
    Command {
        id: Id::Kick,
        name: "kick",
        aliases: &[],
        params: Params::WordOptRest,
        access: Access::Operator,
        ctl: true,
        usage: Words {
            en: "NICK [REASON]",
            zh: "昵称 [原因]",
        },
        help: Words {
            en: "disconnect a user",
            zh: "踢出用户",
        },
    },
    Command {
        id: Id::Ban,
        name: "ban",
        aliases: &[],
        params: Params::WordOptRest,
        access: Access::Operator,
        ctl: true,
        usage: Words {
            en: "TARGET [DURATION] [REASON]",
            zh: "目标 [时长] [原因]",
        },
        help: Words {
            en: "ban a nick, address or range (30m, 12h, 7d)",
            zh: "封禁用户、地址或网段（30m、12h、7d）",
        },
    },
    Command {
        id: Id::Unban,
        name: "unban",
        aliases: &[],
        params: Params::Value,
        access: Access::Operator,
        ctl: true,
        usage: Words {
            en: "TARGET",
            zh: "目标",
        },
        help: Words {
            en: "lift a ban",
            zh: "解除封禁",
        },
    },
    Command {
        id: Id::Mute,
        name: "mute",
        aliases: &[],
        params: Params::WordOptRest,
        access: Access::Operator,
        ctl: true,
        usage: Words {
            en: "NICK [DURATION]",
            zh: "昵称 [时长]",
        },
        help: Words {
            en: "nobody hears the user",
            zh: "禁言",
        },
    },
    Command {
        id: Id::Unmute,
        name: "unmute",
        aliases: &[],
        params: Params::Value,
        access: Access::Operator,
        ctl: true,
        usage: Words {
            en: "NICK",
            zh: "昵称",
        },
        help: Words {
            en: "lift a mute",
            zh: "解除禁言",
        },
    },
    Command {
        id: Id::Purge,
        name: "purge",
        aliases: &[],
        params: Params::Value,
        access: Access::Operator,
        ctl: true,
        usage: Words {
            en: "NICK",
            zh: "昵称",
        },
        help: Words {
            en: "remove the user's lines from the history",
            zh: "从历史中删除该用户的消息",
        },
    },
    Command {
        id: Id::Op,
        name: "op",
        aliases: &[],
        params: Params::Value,
        access: Access::Control,
        ctl: true,
        usage: Words {
            en: "NICK",
            zh: "昵称",
        },
        help: Words {
            en: "make a user an operator",
            zh: "设为管理员",
        },
    },
    Command {
        id: Id::Deop,
        name: "deop",
        aliases: &[],
        params: Params::Value,
        access: Access::Control,
        ctl: true,
        usage: Words {
            en: "NICK",
            zh: "昵称",
        },
        help: Words {
            en: "take operator rights away",
            zh: "取消管理员",
        },
    },
    Command {
        id: Id::Say,
        name: "say",
        aliases: &[],
        params: Params::Rest,
        access: Access::Control,
        ctl: true,
        usage: Words {
            en: "TEXT",
            zh: "内容",
        },
        help: Words {
            en: "a server notice to everyone",
            zh: "向所有人发送服务器通知",
        },
    },
    Command {
        id: Id::Bans,
        name: "bans",
        aliases: &[],
        params: Params::None,
        access: Access::Control,
        ctl: true,
        usage: Words { en: "", zh: "" },
        help: Words {
            en: "list the bans",
            zh: "封禁列表",
        },
    },
    Command {
        id: Id::Stats,
        name: "stats",
        aliases: &[],
        params: Params::None,
        access: Access::Control,
        ctl: true,
        usage: Words { en: "", zh: "" },
        help: Words {
            en: "the health counters now",
            zh: "当前运行统计",
        },
    },
    Command {
        id: Id::Reload,
        name: "reload",
        aliases: &[],
        params: Params::None,
        access: Access::Control,
        ctl: true,
        usage: Words { en: "", zh: "" },
        help: Words {
            en: "re-read the config file",
            zh: "重新读取配置文件",
        },
    },
];
