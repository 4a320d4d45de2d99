//! Paged reads for `Query`: bounded by record count, reply size and work per call.

use super::RecordStore;
use crate::error::StoreError;
use crate::filter::RecordFilter;
use crate::record::Record;
use maestro_proto::logs::v1 as proto;
use prost::Message;

/// Most records a query returns.
pub const MAX_PAGE_SIZE: usize = 1000;
/// Records a query returns when the client asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most encoded bytes of records in one page, so a reply stays well under the gRPC message limit
/// clients accept (`maestro_common::grpc::MAX_MESSAGE_BYTES`).
pub const MAX_PAGE_BYTES: usize = maestro_common::grpc::MAX_MESSAGE_BYTES / 2;
/// Most records one query looks at before it returns a partial page with a cursor.
const SCAN_BUDGET: usize = 100_000;

impl RecordStore {
    /// One page of durable records after `after` matching `filter`: up to `page_size` records
    /// (0 = [`DEFAULT_PAGE_SIZE`], capped at [`MAX_PAGE_SIZE`]) and at most [`MAX_PAGE_BYTES`]
    /// (but at least one record), with the cursor of the next page, 0 when no further matching
    /// record exists.
    pub fn page(
        &self,
        filter: &RecordFilter,
        after: u64,
        page_size: usize,
    ) -> Result<(Vec<Record>, u64), StoreError> {
        let size = if page_size == 0 {
            DEFAULT_PAGE_SIZE
        } else {
            page_size.min(MAX_PAGE_SIZE)
        };
        let mut page = self.scan(after, self.last_sequence(), filter, size + 1, SCAN_BUDGET)?;
        let mut more = page.records.len() > size;
        page.records.truncate(size);
        let mut bytes = 0usize;
        if let Some(cut) = page.records.iter().position(|r| {
            bytes += proto::Record::from(r.clone()).encoded_len();
            bytes > MAX_PAGE_BYTES
        }) {
            page.records.truncate(cut.max(1));
            more = true;
        }
        if more {
            let next = page
                .records
                .last()
                .map_or(page.scanned_through, |r| r.sequence);
            return Ok((page.records, next));
        }
        let next = if page.exhausted {
            0
        } else {
            page.scanned_through
        };
        Ok((page.records, next))
    }
}
