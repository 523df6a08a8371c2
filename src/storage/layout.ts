// Where things live in the data directory.
//   DATA/lanboot.db            state (SQLite, WAL)
//   DATA/lanboot.sock          local API (Unix socket, 0600)
//   DATA/lanboot.lock          pid and boot id of the running supervisor
//   DATA/images/<name>/v<N>.img   golden versions (read-only, 0444)
//   DATA/images/<name>/iso/<file>.iso  ISO 9660 files kept with the image (read-only)
//   DATA/staging/              uploads of non-raw formats waiting for conversion
//   DATA/seats/<id>/           one seat's delta (the native store owns the files inside)
import path from 'node:path';

export class DataLayout {
  constructor(readonly dataDir: string) {}

  get database(): string {
    return path.join(this.dataDir, 'lanboot.db');
  }
  get socket(): string {
    return path.join(this.dataDir, 'lanboot.sock');
  }
  get lockFile(): string {
    return path.join(this.dataDir, 'lanboot.lock');
  }
  get imagesDir(): string {
    return path.join(this.dataDir, 'images');
  }
  get stagingDir(): string {
    return path.join(this.dataDir, 'staging');
  }
  get seatsDir(): string {
    return path.join(this.dataDir, 'seats');
  }
  imageDir(imageName: string): string {
    return path.join(this.imagesDir, imageName);
  }
  versionFile(imageName: string, number: number): string {
    return path.join(this.imageDir(imageName), `v${number}.img`);
  }
  seatDeltaDir(seatId: number): string {
    return path.join(this.seatsDir, String(seatId));
  }
}
