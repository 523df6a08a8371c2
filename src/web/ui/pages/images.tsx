// /images: running imports with progress, USB sticks with their disk images, the upload
// form, every golden image with its versions, and the import history. The forms post to
// ../actions/images.ts and ../actions/usb.ts.
import { Hono } from 'hono';
import type { ImageView, ImportJobView, IsoListEntry, UsbDeviceView } from '../../views.js';
import type { Env, Ui } from '../kit.js';
import { formatBytes, Layout, timeAgo } from '../layout.js';

export function imagesPage(ui: Ui): Hono<Env> {
  const app = new Hono<Env>();
  app.get('/images', ui.auth.pageGuard(), async (c) => {
    const session = c.get('session');
    const [images, imports, usb, isos] = await Promise.all([
      ui.call<ImageView[]>('GET', '/api/v1/images'),
      ui.call<ImportJobView[]>('GET', '/api/v1/imports?limit=20'),
      ui.call<UsbDeviceView[]>('GET', '/api/v1/usb'),
      ui.call<IsoListEntry[]>('GET', '/api/v1/isos'),
    ]);
    const isoList = isos.ok && Array.isArray(isos.data) ? isos.data : [];
    const jobs = imports.ok && Array.isArray(imports.data) ? imports.data : [];
    const running = jobs.filter((j) => j.state === 'running');
    const sticks = usb.ok && Array.isArray(usb.data) ? usb.data : [];
    const list = images.ok && Array.isArray(images.data) ? images.data : [];
    const all = ui.notices(session);
    if (!images.ok) all.push({ kind: 'error', text: images.message });
    return ui.page(
      c,
      <Layout title="Images" nav="images" csrf={session.csrfToken} notices={all} script>
        {running.length > 0 ? (
          <>
            <h2>Importing</h2>
            {running.map((job) => (
              <div class="card job" data-job={String(job.id)}>
                <div>
                  <strong>{job.image}</strong> <span class="muted">{job.phase ?? ''} · {job.source}</span>
                </div>
                <progress value={job.bytesDone} max={job.bytesTotal ?? job.bytesDone + 1}></progress>
                <noscript>
                  <a href="/images">Refresh</a>
                </noscript>
                <div class="muted">
                  {formatBytes(job.bytesDone)}
                  {job.bytesTotal ? ` of ${formatBytes(job.bytesTotal)}` : ''}
                  {job.rateBytesPerSecond ? ` · ${formatBytes(job.rateBytesPerSecond)}/s` : ''}
                  {job.secondsLeft !== null && job.secondsLeft !== undefined ? ` · ${Math.ceil(job.secondsLeft)} s left` : ''}
                </div>
              </div>
            ))}
          </>
        ) : null}
        {sticks.length > 0 ? (
          <>
            <h2>USB sticks</h2>
            {sticks.map((stick) => (
              <div class="card usb" data-usb={stick.id}>
                <div class="row">
                  <strong>{stick.label ?? stick.devname}</strong>
                  <span class="muted">{stick.fsType ?? ''}</span>
                  <form class="inline" method="post" action={`/images/usb/${encodeURIComponent(stick.id)}/release`}>
                    <input type="hidden" name="_csrf" value={session.csrfToken} />
                    <button class="secondary" type="submit" disabled={stick.busy}>
                      {stick.busy ? 'Importing…' : 'Safe to remove'}
                    </button>
                  </form>
                </div>
                {stick.error ? <div class="notice error">{stick.error}</div> : null}
                {stick.files.length === 0 && !stick.error ? <p class="muted">No disk images found on this stick.</p> : null}
                {stick.files.map((file) => (
                  <form method="post" action="/images/usb-import">
                    <input type="hidden" name="_csrf" value={session.csrfToken} />
                    <input type="hidden" name="device" value={stick.id} />
                    <input type="hidden" name="file" value={file.path} />
                    <div class="mono">
                      {file.path} <span class="muted">({file.format}, {formatBytes(file.sizeBytes)})</span>
                    </div>
                    <div class="row">
                      <input type="text" name="image" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="image name" aria-label="image name" autocapitalize="off" />
                      <button type="submit">Import</button>
                    </div>
                  </form>
                ))}
              </div>
            ))}
          </>
        ) : null}
        <h2>Upload a new version</h2>
        <div class="card">
          <form id="upload" method="post" action="/images/upload">
            <label for="upload-image">Image name</label>
            <input id="upload-image" name="image" type="text" required maxlength={63} pattern="[a-z0-9][a-z0-9-]*" placeholder="windows11" autocapitalize="off" />
            <label for="upload-file">Disk image file</label>
            <input id="upload-file" name="file" type="file" required />
            <p>
              <button type="submit">Upload</button>
            </p>
            <progress id="upload-progress" value="0" max="1" hidden></progress>
            <div id="upload-text" hidden aria-live="polite"></div>
            <noscript>
              <p class="muted">Uploading from the browser needs JavaScript; without it, import from a USB stick or with `lanboot image import` on the box.</p>
            </noscript>
          </form>
        </div>
        <h2>Golden images</h2>
        {list.length === 0 ? <p class="muted">No image yet.</p> : null}
        {list.map((image) => {
          const current = image.currentVersion ?? image.latestVersion;
          return (
            <div class="card image" data-image={image.name}>
              <div class="row">
                <strong>{image.name}</strong>
                <span class="badge">current v{current}</span>
                <form class="inline" method="post" action={`/images/${encodeURIComponent(image.name)}/prune`}>
                  <input type="hidden" name="_csrf" value={session.csrfToken} />
                  <button class="secondary" type="submit">
                    Prune unused
                  </button>
                </form>
              </div>
              <table>
                <tbody>
                  {[...image.versions]
                    .sort((a, b) => b.number - a.number)
                    .map((v) => {
                      const users = v.seats;
                      return (
                        <tr>
                          <td>v{v.number}</td>
                          <td>{formatBytes(v.sizeBytes)}</td>
                          <td class="muted">{users.length > 0 ? users.join(', ') : 'no seats'}</td>
                          <td>
                            {v.number !== current && users.length === 0 ? (
                              <form class="inline" method="post" action={`/images/${encodeURIComponent(image.name)}/delete`}>
                                <input type="hidden" name="_csrf" value={session.csrfToken} />
                                <input type="hidden" name="version" value={String(v.number)} />
                                <button class="secondary" type="submit">
                                  Delete
                                </button>
                              </form>
                            ) : null}
                            {v.number !== current ? (
                              <form class="inline" method="post" action={`/images/${encodeURIComponent(image.name)}/rollback`}>
                                <input type="hidden" name="_csrf" value={session.csrfToken} />
                                <input type="hidden" name="version" value={String(v.number)} />
                                <button class="secondary" type="submit">
                                  Make current
                                </button>
                              </form>
                            ) : null}
                          </td>
                        </tr>
                      );
                    })}
                </tbody>
              </table>
            </div>
          );
        })}
        {isoList.length > 0 ? (
          <>
            <h2>ISO files</h2>
            <p class="muted">Served to PCs over HTTP (iPXE: sanboot URL), no login needed.</p>
            <table>
              <tbody>
                {isoList.map((iso) => (
                  <tr data-iso={`${iso.image}/${iso.fileName}`}>
                    <td>
                      {iso.image}/{iso.fileName}
                    </td>
                    <td>{formatBytes(iso.sizeBytes)}</td>
                    <td>
                      <code>{iso.url}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
        {jobs.length > 0 ? (
          <>
            <h2>Import history</h2>
            <ul class="timeline">
              {jobs.map((job) => (
                <li>
                  <strong>{job.image}</strong> <span class={`badge ${job.state === 'done' ? 'on' : 'off'}`}>{job.state}</span>{' '}
                  <span class="muted">
                    {job.version !== null && job.version !== undefined ? `v${job.version} · ` : ''}
                    {job.source} · {timeAgo(job.startedAt)}
                  </span>
                  {job.error ? <div class="muted">{job.error.message}</div> : null}
                </li>
              ))}
            </ul>
          </>
        ) : null}
      </Layout>,
    );
  });
  return app;
}
