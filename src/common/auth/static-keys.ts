export * from '../../engine/access/static-keys';
