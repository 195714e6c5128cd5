import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { Box, Text } from 'ink';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { artifactBasename, type ArtifactInfo } from '../../../protocol/artifacts.js';
import { STREAM_EVENT, type ViewChunk } from '../../../protocol/frames.js';
import { atLeast } from '../../../protocol/roles.js';
import { parseEvents } from '../../../protocol/runner-events.js';
import { useFetched } from '../hooks/use-fetched.js';
import { ESC_BACK, usePanelHelp } from '../hooks/use-panel-help.js';
import type { PanelProps } from '../panels.js';
import { ago, clean, fit } from '../theme.js';
import { Pager, pagerDoc, pagerRows, type PagerDoc } from './Pager.js';

/** The pager reads at most this much of an artifact (the rest: save it). */
export const VIEW_MAX_BYTES = 2 * 1024 * 1024;

function size(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * `o`: the selected run's artifacts (run log, diffs, untracked list, globbed files). Enter views
 * a text artifact in the pager (sanitized; a diff coloured), `s` saves one to a file (0600),
 * `c` asks the runner to collect them now.
 */
export function ArtifactsScreen({ ctx, api, client, close, keys, setHelp, height, width, theme }: PanelProps) {
  const run = ctx.selectedRun;
  const runId = run?.id ?? null;
  const [cursorState, setCursorState] = useState(0);
  const cursorRef = useRef(0);
  const [doc, setDoc] = useState<PagerDoc | null>(null);
  const [top, setTopState] = useState(0);
  const topRef = useRef(0);
  const [collecting, setCollecting] = useState<{ requestId: string; fromSeq: number } | null>(null);
  const setCursor = (n: number) => {
    cursorRef.current = n;
    setCursorState(n);
  };
  const setTop = (n: number) => {
    topRef.current = n;
    setTopState(n);
  };

  const { value: fetched, error } = useFetched<ArtifactInfo[]>(runId, (id) => api.artifacts(id), [api]);

  const notify = useRef(ctx.notify);
  notify.current = ctx.notify;
  // The runner's answer to "collect": collect_done in the event stream.
  useEffect(() => {
    if (!collecting || !runId) return;
    const onChunk = (c: ViewChunk) => {
      if (c.runId !== runId || c.stream !== STREAM_EVENT || c.seq < collecting.fromSeq) return;
      for (const ev of parseEvents(c.data)) {
        if (ev.type !== 'collect_done' || ev.requestId !== collecting.requestId) continue;
        setCollecting(null);
        if (ev.error) notify.current(`collection failed: ${ev.error}`, 'error');
        else notify.current(`collected ${ev.uploaded.length} artifact${ev.uploaded.length === 1 ? '' : 's'}${ev.skipped.length ? `, skipped ${ev.skipped.length}` : ''}`);
      }
    };
    client.on('chunk', onChunk);
    return () => {
      client.off('chunk', onChunk);
    };
  }, [client, runId, collecting]);

  // Live updates (every upload) win over the list fetched on opening.
  const list = [...(ctx.live.artifacts ?? fetched ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const cursor = Math.min(cursorState, Math.max(0, list.length - 1));
  const listRef = useRef(list);
  listRef.current = list;
  const pageHeight = Math.max(1, height - 1);
  const rows = useMemo(() => (doc ? pagerRows(doc, width) : []), [doc, width]);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;

  const view = (a: ArtifactInfo) => {
    if (!runId) return;
    ctx.notify(`loading ${a.name}…`);
    api
      .artifactText(runId, a.name, VIEW_MAX_BYTES)
      .then((t) => {
        if (t.text === null) return ctx.notify(`${a.name} is not text (${t.contentType || 'unknown type'}): s saves it to a file`, 'error');
        const diff = a.kind === 'diff' || a.kind === 'diff-staged' || /\.(patch|diff)$/.test(a.name);
        setTop(0);
        setDoc(pagerDoc(a.name, t.text, { diff, note: t.cut ? `… only the first ${size(VIEW_MAX_BYTES)} are shown: s saves all of it` : null }));
        ctx.notify(`${a.name}: ${size(a.bytes)}${a.redacted ? ', secrets redacted' : ''}${a.truncated ? ', cut by the runner' : ''}`);
      })
      .catch((err: Error) => ctx.notify(`could not read ${a.name}: ${err.message}`, 'error'));
  };

  const save = (a: ArtifactInfo) => {
    if (!runId) return;
    ctx.prompt({
      label: `Save ${clean(a.name, 30)} to:`,
      initial: artifactBasename(a.name),
      onSubmit: (value) => {
        const typed = value.trim();
        if (!typed) return ctx.notify('not saved');
        const path = typed === '~' || typed.startsWith('~/') ? join(homedir(), typed.slice(1)) : typed;
        const write = (overwrite: boolean) =>
          api
            .saveArtifact(runId, a.name, path, overwrite)
            .then((r) => ctx.notify(`saved ${a.name} to ${resolve(path)} (${size(r.bytes)})`))
            .catch((err: Error & { code?: string }) => ctx.notify(`could not save ${a.name}: ${err.code === 'EEXIST' ? `${path} exists` : err.message}`, 'error'));
        if (existsSync(path)) ctx.confirm(`${clean(path, 40)} exists. Overwrite it? y/n`, () => void write(true));
        else void write(false);
      },
    });
  };

  useLayoutEffect(() => {
    keys.current = (name) => {
      if (doc) {
        const max = Math.max(0, rowsRef.current.length - pageHeight);
        const at = topRef.current;
        if (name === 'escape' || name === 'q') return setDoc(null);
        if (name === 'up' || name === 'k') return setTop(Math.max(0, at - 1));
        if (name === 'down' || name === 'j' || name === 'enter') return setTop(Math.min(max, at + 1));
        if (name === 'pageup' || name === 'b') return setTop(Math.max(0, at - (pageHeight - 1)));
        if (name === 'pagedown' || name === ' ') return setTop(Math.min(max, at + (pageHeight - 1)));
        if (name === 'home' || name === 'g') return setTop(0);
        if (name === 'end' || name === 'G') return setTop(max);
        return;
      }
      const all = listRef.current;
      const at = Math.min(cursorRef.current, Math.max(0, all.length - 1));
      const chosen = all[at];
      if (name === 'escape' || name === 'q' || name === 'o') return close();
      if (name === 'up' || name === 'k') return setCursor(Math.max(0, at - 1));
      if (name === 'down' || name === 'j') return setCursor(Math.max(0, Math.min(all.length - 1, at + 1)));
      if (name === 'c') {
        if (!runId) return;
        if (!atLeast(ctx.role, 'operator')) return ctx.notify(`collecting needs the operator or admin role (you are ${ctx.role ?? '?'})`, 'error');
        return void api
          .collect(runId)
          .then((r) => {
            setCollecting(r);
            ctx.notify('collecting: the runner uploads the log, the diffs and its globs…');
          })
          .catch((err: Error) => ctx.notify(`could not collect: ${err.message}`, 'error'));
      }
      if (!chosen) return name === 'enter' || name === 's' ? ctx.notify('no artifact yet: c collects them', 'error') : undefined;
      if (name === 'enter' || name === 'v') return view(chosen);
      if (name === 's') return save(chosen);
    };
    return () => {
      keys.current = null;
    };
  });

  usePanelHelp(
    setHelp,
    doc
      ? [
          { key: '↑↓', help: 'line', rank: 1 },
          { key: 'PgUp/PgDn', help: 'page', rank: 1 },
          { key: 'g/G', help: 'start/end', rank: 2 },
          { key: 'Esc', help: 'back to the list', rank: 0, keep: true },
        ]
      : [
          { key: 'Enter', help: 'view', rank: 1 },
          { key: 's', help: 'save', rank: 1 },
          // Viewers are not offered what they may not do.
          ...(atLeast(ctx.role, 'operator') ? [{ key: 'c', help: 'collect now', rank: 2 }] : []),
          { key: '↑↓', help: 'choose', rank: 3 },
          ESC_BACK,
        ],
  );

  if (doc) {
    const last = Math.min(rows.length, top + pageHeight);
    return (
      <Box height={height} flexDirection="column" overflow="hidden">
        <Text bold wrap="truncate-end">
          {clean(doc.title, 60)} <Text dimColor>rows {rows.length === 0 ? 0 : top + 1}–{last} of {rows.length}</Text>
        </Text>
        <Pager rows={rows} top={top} height={pageHeight} theme={theme} />
      </Box>
    );
  }

  const cut = list.some((a) => a.truncated);
  const listHeight = Math.max(1, height - (cut ? 2 : 1));
  const first = Math.max(0, Math.min(cursor - listHeight + 1, list.length - listHeight));
  const head = !run
    ? 'No run selected'
    : error && !ctx.live.artifacts
      ? `Could not list the artifacts: ${clean(error, 120)}`
      : `${list.length} artifact${list.length === 1 ? '' : 's'} of ${clean(run.name, 30)} (${run.id})${collecting ? ' · collecting…' : ''}`;
  const nameWidth = Math.max(10, width - 2 - 12 - 11 - 6 - 3);
  return (
    <Box height={height} flexDirection="column" overflow="hidden">
      <Text bold wrap="truncate-end">
        {head}
      </Text>
      <Box height={listHeight} flexDirection="column">
        {list.length === 0 ? (
          <Text dimColor wrap="truncate-end">
            {'  '}None yet. The runner collects them when the run ends{atLeast(ctx.role, 'operator') ? '; c asks it to collect now' : ''}.
          </Text>
        ) : (
          list.slice(first, first + listHeight).map((a, i) => {
            const here = first + i === cursor;
            return (
              <Text key={a.name} wrap="truncate-end" bold={here} inverse={here}>
                {here ? '› ' : '  '}
                {fit(clean(a.name, 200), nameWidth)} {fit(a.kind, 11)} {fit(size(a.bytes) + (a.truncated ? '*' : ''), 10)} {fit(ago(a.uploadedAt, Date.now()), 5)}
              </Text>
            );
          })
        )}
      </Box>
      {cut ? (
        <Text dimColor wrap="truncate-end">
          * cut by the runner
        </Text>
      ) : null}
    </Box>
  );
}
