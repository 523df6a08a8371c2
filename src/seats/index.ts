// Seats: one PC's disk each (a golden image version plus the seat's own delta), served as a
// target of the native iSCSI engine. SeatManager is the part's entry point; input.ts parses
// what callers send; views.ts is what they get back. docs/seats.md describes the behaviour.
export { SeatManager, type SeatManagerOptions } from './seat-manager.js';
export type { DiskTools, VersionPublisher } from './context.js';
export {
  parseAddSeatRequest,
  parseCommitRequest,
  parseImageName,
  parseMenuRequest,
  parseOnceRequest,
  parseMode,
  parseQuota,
  parseSeatName,
  parseSnapshotLabel,
  parseSnapshotNumber,
  parseTraceSwitch,
  parseVersion,
  type AddSeatRequest,
  type CommitRequest,
} from './input.js';
export { SEAT_LUN, type CommitResult, type MoveAllResult, type OperationView, type SeatDetails, type SeatSummary, type SnapshotView, type SpaceReport, type SpaceWarning } from './views.js';
export type { SeatTraceView } from './trace.js';
export type { PrewarmResult } from './prewarm.js';
export { hasBootSignature, storedBootChoice, type BootChoice, type BootChoiceInput, type MenuRequest, type SeatBootView } from './boot-options.js';
