// The slice of the native addon's API the control plane uses (src/native/index.ts is the
// full contract). Taking the interface, not the addon, lets tests run the control plane
// where the addon is not built.
import type { EngineEvent, IscsiEngine, TargetConfig } from '../native/index.js';

export type { EngineEvent, IscsiEngine, TargetConfig };

export type EngineFactory = (onEvent: (event: EngineEvent) => void) => IscsiEngine;
