//! `rollout status|pause|resume|abort ID [--item ITEM]`.

use crate::args::{RolloutCommand, RolloutTarget};
use crate::client::MaestroClient;
use crate::error::CliResult;
use crate::output::Output;
use crate::rollout_view::{RolloutsView, rollouts};
use maestro_proto::order::v1 as pb;

/// Runs one `rollout` command and prints the rollouts as they stand after it.
pub async fn run(client: &MaestroClient, cmd: RolloutCommand, out: Output) -> CliResult<()> {
    let (target, command) = match cmd {
        RolloutCommand::Status(t) => (t, None),
        RolloutCommand::Pause(t) => (t, Some(pb::RolloutCommand::Pause)),
        RolloutCommand::Resume(t) => (t, Some(pb::RolloutCommand::Resume)),
        RolloutCommand::Abort(t) => (t, Some(pb::RolloutCommand::Abort)),
    };
    let RolloutTarget { id, item } = target;
    let order = match command {
        None => {
            client
                .call(client.orders().get_order(pb::GetOrderRequest { id }))
                .await?
        }
        Some(command) => {
            let req = pb::ControlRolloutRequest {
                id,
                item_id: item.clone().unwrap_or_default(),
                command: command as i32,
            };
            client.call(client.orders().control_rollout(req)).await?
        }
    };
    let mut view = RolloutsView::of(&order);
    if let Some(item) = &item {
        view.items.retain(|r| &r.item == item);
    }
    super::emit(&rollouts(&view, out));
    Ok(())
}
