import type { TemplatedApp } from 'uWebSockets.js';
import type { BrowserDeps } from '../browser.js';
import type { RunSection } from '../run-sections.js';
import { approvalsSection, mountApprovalActions } from './approvals.js';
import { artifactsSection, mountArtifactPages } from './artifacts.js';
import { assistSection, mountAssistActions } from './assist.js';
import { commandsSection, mountCommandActions } from './commands.js';
import { inputSection, mountInputActions } from './input.js';
import { mountSessionActions, sessionSection } from './session.js';
import { mountTimelinePages, timelineSection } from './timeline.js';
import { machineSection, mountMachineActions } from './machine.js';

/** The run page's sections (see run-sections.ts for the slots and their order). */
export function runSections(d: BrowserDeps): RunSection[] {
  return [approvalsSection(d), sessionSection(d), timelineSection(d), machineSection(d), inputSection(d), commandsSection(d), artifactsSection(d), assistSection(d)];
}

/** The routes behind the sections: their forms' POSTs, downloads and views. */
export function mountRunActions(app: TemplatedApp, d: BrowserDeps): void {
  mountApprovalActions(app, d);
  mountInputActions(app, d);
  mountSessionActions(app, d);
  mountCommandActions(app, d);
  mountArtifactPages(app, d);
  mountAssistActions(app, d);
  mountTimelinePages(app, d);
  mountMachineActions(app, d);
}
