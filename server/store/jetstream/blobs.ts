import { readFile, rename, writeFile } from 'node:fs/promises';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { SharedBlobs } from '../types.js';
import { RESOURCES } from './keys.js';
import type { NatsLink } from './nats-link.js';

/**
 * Artifact blobs in the JetStream object store `ccg_blobs`, by sha256, so an artifact uploaded
 * through one node downloads through any: the node that receives an upload puts the blob here
 * before the artifact is recorded; a node asked for a blob it does not have on disk fetches it
 * once into its own blob directory. An artifact is at most 32 MiB, so a blob goes as one buffer.
 */
export class JsBlobs implements SharedBlobs {
  private constructor(
    private readonly link: NatsLink,
    private readonly os: ObjectStore,
  ) {}

  static async open(link: NatsLink): Promise<JsBlobs> {
    const os = await new Objm(link.js).create(RESOURCES.blobs, { replicas: link.replicas, storage: 'file' });
    return new JsBlobs(link, os);
  }

  async put(sha256: string, file: string): Promise<void> {
    this.link.mustBeUp();
    try {
      const have = await this.os.info(sha256);
      if (have && !have.deleted) return;
      await this.os.putBlob({ name: sha256 }, await readFile(file));
    } catch (err) {
      throw this.link.storageError(err, 'write of an artifact blob');
    }
  }

  async fetch(sha256: string, dest: string): Promise<boolean> {
    let data: Uint8Array | null;
    try {
      data = await this.os.getBlob(sha256);
    } catch (err) {
      throw this.link.storageError(err, 'read of an artifact blob');
    }
    if (!data) return false;
    const tmp = `${dest}.${process.pid}.part`;
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, dest);
    return true;
  }

  async delete(sha256: string): Promise<void> {
    this.link.mustBeUp();
    try {
      await this.os.delete(sha256);
    } catch (err) {
      if (!/not found/i.test(String((err as Error).message))) throw this.link.storageError(err, 'delete of an artifact blob');
    }
  }
}
