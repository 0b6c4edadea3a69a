using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Runnel.Metadata.Entities;

namespace Runnel.Metadata.Configurations;

/// <summary>UInt128 as a 39-digit zero-padded decimal (2^128-1 has 39 digits), so text order is numeric order.</summary>
internal sealed class HashKeyConverter() : ValueConverter<UInt128, string>(
    v => v.ToString("D39", CultureInfo.InvariantCulture),
    s => UInt128.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture));

internal sealed class StreamConfiguration : IEntityTypeConfiguration<StreamEntity>
{
    public void Configure(EntityTypeBuilder<StreamEntity> b)
    {
        b.ToTable("streams");
        b.HasKey(s => s.Id);
        b.Property(s => s.Name).HasMaxLength(128);
        b.HasIndex(s => s.Name).IsUnique();
        b.Property(s => s.Status).HasMaxLength(16);
        b.Property(s => s.Mode).HasMaxLength(16);
        b.Property(s => s.EncryptionType).HasMaxLength(8);
        b.Property(s => s.KeyId).HasMaxLength(2048);
        b.Property(s => s.Version).IsConcurrencyToken();
        b.HasMany(s => s.Shards).WithOne(s => s.Stream).HasForeignKey(s => s.StreamId).OnDelete(DeleteBehavior.Cascade);
        b.HasMany(s => s.Tags).WithOne().HasForeignKey(t => t.StreamId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ShardConfiguration : IEntityTypeConfiguration<ShardEntity>
{
    public void Configure(EntityTypeBuilder<ShardEntity> b)
    {
        b.ToTable("shards");
        b.HasKey(s => new { s.StreamId, s.ShardIndex });
        b.Property(s => s.HashKeyStart).HasConversion<HashKeyConverter>().HasMaxLength(39).IsUnicode(false);
        b.Property(s => s.HashKeyEnd).HasConversion<HashKeyConverter>().HasMaxLength(39).IsUnicode(false);
        b.Property(s => s.StartingSequenceNumber).HasMaxLength(129);
        b.Property(s => s.EndingSequenceNumber).HasMaxLength(129);
    }
}

internal sealed class ShardPlacementConfiguration : IEntityTypeConfiguration<ShardPlacementEntity>
{
    public void Configure(EntityTypeBuilder<ShardPlacementEntity> b)
    {
        b.ToTable("shard_placements");
        b.HasKey(p => new { p.StreamId, p.ShardIndex });
        b.Property(p => p.NodeId).HasMaxLength(128);
        b.HasIndex(p => p.NodeId);
        b.Property(p => p.Epoch).IsConcurrencyToken();
    }
}

internal sealed class StoreNodeConfiguration : IEntityTypeConfiguration<StoreNodeEntity>
{
    public void Configure(EntityTypeBuilder<StoreNodeEntity> b)
    {
        b.ToTable("store_nodes");
        b.HasKey(n => n.NodeId);
        b.Property(n => n.NodeId).HasMaxLength(128);
        b.Property(n => n.Address).HasMaxLength(512);
    }
}

internal sealed class StreamTagConfiguration : IEntityTypeConfiguration<StreamTagEntity>
{
    public void Configure(EntityTypeBuilder<StreamTagEntity> b)
    {
        b.ToTable("stream_tags");
        b.HasKey(t => new { t.StreamId, t.Key });
        b.Property(t => t.Key).HasMaxLength(128);
        b.Property(t => t.Value).HasMaxLength(256);
    }
}

internal sealed class StreamConsumerConfiguration : IEntityTypeConfiguration<StreamConsumerEntity>
{
    public void Configure(EntityTypeBuilder<StreamConsumerEntity> b)
    {
        b.ToTable("stream_consumers");
        b.HasKey(c => c.Id);
        b.HasIndex(c => new { c.StreamId, c.Name }).IsUnique();
        b.Property(c => c.Name).HasMaxLength(128);
        b.Property(c => c.Arn).HasMaxLength(2048);
        b.Property(c => c.Status).HasMaxLength(16);
        b.HasOne<StreamEntity>().WithMany().HasForeignKey(c => c.StreamId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class LeaseConfiguration : IEntityTypeConfiguration<LeaseEntity>
{
    public void Configure(EntityTypeBuilder<LeaseEntity> b)
    {
        b.ToTable("leases");
        b.HasKey(l => new { l.ApplicationName, l.StreamId, l.ShardIndex });
        b.Property(l => l.ApplicationName).HasMaxLength(256);
        b.Property(l => l.Checkpoint).HasMaxLength(129);
        b.Property(l => l.LeaseOwner).HasMaxLength(256);
        b.Property(l => l.LeaseCounter).IsConcurrencyToken();
        b.Property(l => l.ParentShardIndexes).HasMaxLength(64);
    }
}

internal sealed class AccessKeyConfiguration : IEntityTypeConfiguration<AccessKeyEntity>
{
    public void Configure(EntityTypeBuilder<AccessKeyEntity> b)
    {
        b.ToTable("access_keys");
        b.HasKey(k => k.AccessKeyId);
        b.Property(k => k.AccessKeyId).HasMaxLength(128);
        b.Property(k => k.EncryptedSecret).HasMaxLength(512);
        b.Property(k => k.UserName).HasMaxLength(64);
        b.Property(k => k.PolicyDocument).HasMaxLength(10240);
        b.Property(k => k.Description).HasMaxLength(1024);
    }
}

internal sealed class AuditEntryConfiguration : IEntityTypeConfiguration<AuditEntryEntity>
{
    public void Configure(EntityTypeBuilder<AuditEntryEntity> b)
    {
        b.ToTable("audit_entries");
        b.HasKey(a => a.Id);
        b.HasIndex(a => a.At);
        b.Property(a => a.Principal).HasMaxLength(256);
        b.Property(a => a.Operation).HasMaxLength(128);
        b.Property(a => a.Resource).HasMaxLength(2048);
        b.Property(a => a.Outcome).HasMaxLength(128);
    }
}
