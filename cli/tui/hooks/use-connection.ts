import { useEffect, useState } from 'react';
import type { ConnectionState, OperatorClient } from '../../client/operator-client.js';
import type { CliError } from '../../exit-codes.js';

export interface Connection {
  state: ConnectionState;
  user: { name: string; role: string } | null;
  /** Set when the client gave up (bad token, pin mismatch): the app exits with it. */
  fatal: CliError | null;
}

/** The operator socket's state, who we are, and a fatal error if the client gave up. */
export function useConnection(client: OperatorClient): Connection {
  const [state, setState] = useState<ConnectionState>(client.state);
  const [user, setUser] = useState<Connection['user']>(client.user);
  const [fatal, setFatal] = useState<CliError | null>(null);
  useEffect(() => {
    const onState = (s: ConnectionState) => setState(s);
    const onWelcome = (u: { name: string; role: string }) => setUser(u);
    const onFatal = (e: CliError) => setFatal(e);
    client.on('state', onState);
    client.on('welcome', onWelcome);
    client.on('fatal', onFatal);
    setState(client.state);
    setUser(client.user);
    return () => {
      client.off('state', onState);
      client.off('welcome', onWelcome);
      client.off('fatal', onFatal);
    };
  }, [client]);
  return { state, user, fatal };
}
