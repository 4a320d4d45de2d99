//! Inner request messages. Field names are the wire names; `msgtype` is added by the envelope.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Blueprint, BlueprintDefinition, Colony, Executor, FunctionSpec, User};

/// A request message with its payload type.
pub trait RpcMessage: Serialize + DeserializeOwned {
    /// The `payloadtype` / `msgtype` of this message.
    const PAYLOAD_TYPE: &'static str;
}

macro_rules! message {
    ($(#[$doc:meta])* $name:ident = $ptype:literal { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $(
                #[doc = concat!("Wire field `", stringify!($field), "`.")]
                pub $field: $ty,
            )*
        }

        impl RpcMessage for $name {
            const PAYLOAD_TYPE: &'static str = $ptype;
        }
    };
}

message!(/// Server version (unsigned).
    VersionMsg = "versionmsg" { buildversion: String, buildtime: String });
message!(/// Server info (unsigned).
    GetServerInfoMsg = "getserverinfomsg" {});
message!(/// Add a colony (server owner).
    AddColonyMsg = "addcolonymsg" { colony: Colony });
message!(/// List colonies (server owner).
    GetColoniesMsg = "getcoloniesmsg" {});
message!(/// Get one colony (member).
    GetColonyMsg = "getcolonymsg" { colonyname: String });
message!(/// Remove a colony (server owner).
    RemoveColonyMsg = "removecolonymsg" { colonyname: String });
message!(/// Add a pending executor (colony owner).
    AddExecutorMsg = "addexecutormsg" { executor: Executor });
message!(/// Approve an executor (colony owner).
    ApproveExecutorMsg = "approveexecutormsg" { colonyname: String, executorname: String });
message!(/// Reject an executor (colony owner).
    RejectExecutorMsg = "rejectexecutormsg" { colonyname: String, executorname: String });
message!(/// Remove an executor (colony owner).
    RemoveExecutorMsg = "removeexecutormsg" { colonyname: String, executorname: String });
message!(/// Get one executor (member).
    GetExecutorMsg = "getexecutormsg" { colonyname: String, executorname: String });
message!(/// List executors of a colony (member, approved or not).
    GetExecutorsMsg = "getexecutorsmsg" { colonyname: String });
message!(/// Add a user (colony owner).
    AddUserMsg = "addusermsg" { user: User });
message!(/// List users (member).
    GetUsersMsg = "getusersmsg" { colonyname: String });
message!(/// Remove a user (colony owner).
    RemoveUserMsg = "removeusermsg" { colonyname: String, name: String });
message!(/// Submit a function spec (member).
    SubmitFuncSpecMsg = "submitfuncspecmsg" { spec: FunctionSpec });
message!(/// Assign a process to the calling executor; `timeout` seconds, 0 rejected, < 0 one try.
AssignProcessMsg = "assignprocessmsg" {
    colonyname: String, timeout: i64, availablecpu: String, availablemem: String,
});
message!(/// Close a process as successful (assigned executor).
    CloseSuccessfulMsg = "closesuccessfulmsg" { processid: String, out: Vec<Value> });
message!(/// Close a process as failed (assigned executor).
    CloseFailedMsg = "closefailedmsg" { processid: String, errors: Vec<String> });
message!(/// Set the output of a running process (assigned executor).
    SetOutputMsg = "setoutputmsg" { processid: String, out: Vec<Value> });
message!(/// Get one process (member).
    GetProcessMsg = "getprocessmsg" { processid: String });
message!(/// List processes of a colony in a state (member); `count` <= 100.
GetProcessesMsg = "getprocessesmsg" {
    colonyname: String, count: i64, state: i32, executortype: String, label: String,
    initiator: String,
});
message!(/// Cancel a waiting or running process (member).
    CancelProcessMsg = "cancelprocessmsg" { processid: String });
message!(/// Remove a closed or waiting process (member).
    RemoveProcessMsg = "removeprocessmsg" { processid: String });
message!(/// Add a log line to a running process (assigned executor).
    AddLogMsg = "addlogmsg" { processid: String, message: String });
message!(/// Get log lines (member); `count` <= 500, `since` in Unix ns.
GetLogsMsg = "getlogsmsg" {
    colonyname: String, processid: String, executorname: String, count: i64, since: i64,
    latest: bool,
});
message!(/// Add a blueprint definition (colony owner).
AddBlueprintDefinitionMsg = "addblueprintdefinitionmsg" {
    blueprintdefinition: BlueprintDefinition,
});
message!(/// Get a blueprint definition by name (member).
    GetBlueprintDefinitionMsg = "getblueprintdefinitionmsg" { colonyname: String, name: String });
message!(/// List blueprint definitions (member).
    GetBlueprintDefinitionsMsg = "getblueprintdefinitionsmsg" { colonyname: String });
message!(/// Remove a blueprint definition (colony owner); 409 while blueprints of its kind exist.
RemoveBlueprintDefinitionMsg = "removeblueprintdefinitionmsg" {
    namespace: String, name: String,
});
message!(/// Add a blueprint (member).
    AddBlueprintMsg = "addblueprintmsg" { blueprint: Blueprint });
message!(/// Get a blueprint by name (member).
    GetBlueprintMsg = "getblueprintmsg" { namespace: String, name: String });
message!(/// List blueprints, optionally by kind and location (member).
GetBlueprintsMsg = "getblueprintsmsg" {
    namespace: String, kind: String, locationname: String,
});
message!(/// Replace a blueprint (member).
    UpdateBlueprintMsg = "updateblueprintmsg" { blueprint: Blueprint, forcegeneration: bool });
message!(/// Remove a blueprint (member).
    RemoveBlueprintMsg = "removeblueprintmsg" { namespace: String, name: String });
message!(/// Replace a blueprint's status (member).
UpdateBlueprintStatusMsg = "updateblueprintstatusmsg" {
    colonyname: String, blueprintname: String, status: Value,
});
message!(/// Submit a reconcile process for a blueprint (member).
    ReconcileBlueprintMsg = "reconcileblueprintmsg" { namespace: String, name: String, force: bool });
message!(/// Get a blueprint's history (member).
    GetBlueprintHistoryMsg = "getblueprinthistorymsg" { blueprintid: String, limit: i64 });
