/** Shared pieces: the app context, polling, forms that place API errors beside fields, small widgets. */
import { createContext, type ComponentChildren, type JSX } from 'preact';
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type Api, type Session } from './api';
import type { Key, Lang, T } from './i18n';
import { fieldOfError, parsePercent, type FieldMatch } from './model';

export interface Ctx {
  api: Api;
  lang: Lang;
  t: T;
  session: Session | null;
  navigate(path: string): void;
}

export const AppContext = createContext<Ctx | null>(null);

export function useApp(): Ctx {
  const c = useContext(AppContext);
  if (!c) throw new Error('no app context');
  return c;
}

/** A console path (`clusters/ID`) as a URL under /console/. */
export const href = (path: string): string => `/console/${path.replace(/^\//, '')}`;

export function Link(p: {
  to: string;
  children: ComponentChildren;
  class?: string;
  id?: string;
  'data-testid'?: string;
  /** the page shown now (aria-current) */
  current?: boolean;
}): JSX.Element {
  const { navigate } = useApp();
  return (
    <a
      href={href(p.to)}
      class={p.class}
      id={p.id}
      data-testid={p['data-testid']}
      aria-current={p.current ? 'page' : undefined}
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(p.to);
      }}
    >
      {p.children}
    </a>
  );
}

export interface Poll<T> {
  data: T | null;
  error: Error | null;
  /** fetch again now */
  refresh(): void;
}

/**
 * Calls `fn` now and then every `intervalMs` after each answer (never two at once), until
 * the component goes away or `deps` change. The token header goes with every call: this is
 * why the console polls instead of using EventSource, which cannot send it.
 */
export function usePoll<T>(fn: () => Promise<T>, deps: unknown[], intervalMs = 1000): Poll<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const kick = useRef<() => void>(() => {});
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let running = false;
    const run = async (): Promise<void> => {
      if (!alive || running) return;
      running = true;
      if (timer) clearTimeout(timer);
      timer = null;
      try {
        const v = await fn();
        if (alive) {
          setData(v);
          setError(null);
        }
      } catch (e) {
        if (alive) setError(e as Error);
      } finally {
        running = false;
        if (alive && intervalMs > 0) timer = setTimeout(() => void run(), intervalMs);
      }
    };
    kick.current = () => void run();
    setData(null);
    setError(null);
    void run();
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
    };
  }, deps);
  return { data, error, refresh: useCallback(() => kick.current(), []) };
}

/** A form's error state: an API error goes beside the field it names, else to the top. */
export interface FormState {
  busy: boolean;
  top: string | null;
  fields: Record<string, string>;
  /** run a submission; API errors are placed, other errors go to the top */
  run<R>(fn: () => Promise<R>): Promise<R | undefined>;
  setTop(msg: string | null): void;
  setField(name: string, msg: string | null): void;
  clear(): void;
}

export function useForm(matches: FieldMatch[]): FormState {
  const [busy, setBusy] = useState(false);
  const [top, setTop] = useState<string | null>(null);
  const [fields, setFields] = useState<Record<string, string>>({});
  const clear = (): void => {
    setTop(null);
    setFields({});
  };
  const place = (e: unknown): void => {
    if (e instanceof ApiError) {
      const text = e.code ? `${e.msg} (${e.code})` : e.msg;
      const f = fieldOfError(e.msg, e.code, matches);
      if (f) setFields({ [f]: text });
      else setTop(text);
    } else {
      setTop((e as Error).message || String(e));
    }
  };
  return {
    busy,
    top,
    fields,
    clear,
    setTop,
    setField: (name, msg) =>
      setFields((old) => {
        const n = { ...old };
        if (msg === null) delete n[name];
        else n[name] = msg;
        return n;
      }),
    async run(fn) {
      clear();
      setBusy(true);
      try {
        return await fn();
      } catch (e) {
        place(e);
        return undefined;
      } finally {
        setBusy(false);
      }
    },
  };
}

export function FormError(p: { msg: string | null }): JSX.Element | null {
  if (!p.msg) return null;
  return (
    <div class="alert alert-error form-error" role="alert" data-testid="form-error">
      {p.msg}
    </div>
  );
}

/** A labelled field with the API's message for it underneath. */
export function Field(p: {
  name: string;
  label: string;
  error?: string | undefined;
  hint?: string;
  children: ComponentChildren;
}): JSX.Element {
  return (
    <div class={`field${p.error ? ' has-error' : ''}`} data-field={p.name}>
      <label for={`f-${p.name}`}>{p.label}</label>
      {p.children}
      {p.hint ? <div class="hint">{p.hint}</div> : null}
      {p.error ? (
        <div class="field-error" role="alert" data-error-for={p.name}>
          {p.error}
        </div>
      ) : null}
    </div>
  );
}

/** A progress bar driven by a percentage string ("42.17%") or number. */
export function ProgressBar(p: { value: string | number; status?: string; label?: string; small?: boolean }): JSX.Element {
  const pct = typeof p.value === 'number' ? Math.max(0, Math.min(100, p.value)) : parsePercent(p.value);
  const text = typeof p.value === 'string' && p.value ? p.value : `${pct.toFixed(2)}%`;
  const cls = `bar${p.small ? ' bar-small' : ''} bar-${(p.status ?? '').toLowerCase()}`;
  return (
    <div class="bar-wrap">
      <div
        class={cls}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct}
        aria-label={p.label}
        data-progress={text}
      >
        <div class="bar-fill" style={{ width: `${pct}%` }} />
      </div>
      <span class="bar-text">{text}</span>
    </div>
  );
}

const STATUS_CLASS: Record<string, string> = {
  AVAILABLE: 'ok',
  SUCCESS: 'ok',
  NORMAL: 'ok',
  RUNNING: 'run',
  WAITING: 'wait',
  CREATING: 'run',
  ROLLBACK_RUNNING: 'warn',
  DELETING: 'run',
  FAILED: 'bad',
  ROLLBACK_FAIL: 'bad',
  ROLLBACK_SUCCESS: 'warn',
  UNAVAILABLE: 'bad',
  'CREATION FAILED': 'bad',
  DELETE_FAILED: 'bad',
  DEGRADED: 'warn',
  UNBALANCED: 'warn',
  'DEGRADED | UNBALANCED': 'warn',
  ACTIVE_STANDY_SWITCHOVER: 'run',
  ACTIVE_STANDY_SWITCHOVER_FAILURE: 'bad',
  RESIZE_FAILURE: 'bad',
  REBOOT_FAILURE: 'bad',
  CLUSTER_SHRINK_FAILED: 'bad',
  'In-Sync': 'ok',
  Applying: 'run',
  'Sync-Failure': 'bad',
  FAIL: 'bad',
};

export function Badge(p: { value: string; title?: string }): JSX.Element | null {
  if (!p.value) return null;
  const cls = STATUS_CLASS[p.value] ?? (/ING$/.test(p.value) ? 'run' : 'plain');
  return (
    <span class={`badge badge-${cls}`} title={p.title} data-status={p.value}>
      {p.value}
    </span>
  );
}

export function CopyText(p: { text: string; testid?: string }): JSX.Element {
  const { t } = useApp();
  const [done, setDone] = useState(false);
  const ref = useRef<HTMLInputElement>(null);
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(p.text);
    } catch {
      // no clipboard access (an insecure origin): select it for Ctrl+C
      ref.current?.select();
      document.execCommand?.('copy');
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <span class="copy">
      <input
        ref={ref}
        class="mono copy-text"
        readOnly
        value={p.text}
        size={Math.min(60, p.text.length)}
        data-testid={p.testid}
        onFocus={(e) => (e.currentTarget as HTMLInputElement).select()}
      />
      <button type="button" class="btn btn-small" onClick={() => void copy()}>
        {done ? t('copied') : t('copy')}
      </button>
    </span>
  );
}

export function Loading(p: { error?: Error | null; onRetry?: () => void }): JSX.Element {
  const { t } = useApp();
  if (p.error) {
    return (
      <div class="alert alert-error" role="alert">
        {p.error.message}
        {p.onRetry ? (
          <button type="button" class="btn btn-small" onClick={p.onRetry}>
            {t('retry')}
          </button>
        ) : null}
      </div>
    );
  }
  return <div class="loading">{t('loading')}</div>;
}

/** Text input bound to a string state. */
export function TextInput(p: {
  name: string;
  value: string;
  onInput(v: string): void;
  type?: 'text' | 'password';
  placeholder?: string;
  autoComplete?: string;
  inputMode?: 'numeric' | 'text';
}): JSX.Element {
  const common = {
    id: `f-${p.name}`,
    name: p.name,
    value: p.value,
    placeholder: p.placeholder,
    autoComplete: p.autoComplete,
    onInput: (e: Event) => p.onInput((e.currentTarget as HTMLInputElement).value),
  };
  return p.type === 'password' ? <input type="password" {...common} /> : <input type="text" inputMode={p.inputMode} {...common} />;
}

export function Select(p: {
  name: string;
  value: string;
  onChange(v: string): void;
  options: { value: string; label: string }[];
}): JSX.Element {
  return (
    <select id={`f-${p.name}`} name={p.name} value={p.value} onChange={(e) => p.onChange((e.currentTarget as HTMLSelectElement).value)}>
      {p.options.map((o) => (
        <option key={o.value} value={o.value}>
          {o.label}
        </option>
      ))}
    </select>
  );
}

/** A number field kept as text, so the API (not the browser) judges what was typed. */
export const toNumber = (s: string): number | string => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s);

export function PageTitle(p: { children: ComponentChildren; live?: boolean }): JSX.Element {
  const { t } = useApp();
  return (
    <h1>
      {p.children}
      {p.live ? (
        <span class="live" title={t('refreshing')}>
          ● {t('refreshing')}
        </span>
      ) : null}
    </h1>
  );
}

export function KeyLabel(p: { k: Key }): JSX.Element {
  const { t } = useApp();
  return <>{t(p.k)}</>;
}
